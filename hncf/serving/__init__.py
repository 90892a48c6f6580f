"""Serving a trained system: the :class:`Recommender` you can ask, and the Flask page around it.

* :mod:`hncf.serving.recommender`: suggestions from liked titles (content + folded-in NCF), top genres, search.
* :mod:`hncf.serving.web`: ``create_app(recommender)``, the page where a person ticks titles, and its JSON API.
* :mod:`hncf.serving.cli_serve`: ``python -m hncf serve --catalog FILE [--ratings DIR] ...`` (waitress).

Imports are lazy so that ``import hncf.serving`` does not pull TensorFlow or Flask.
"""

__all__ = ["Recommender", "build_recommender", "create_app"]


def __getattr__(name):
    if name in ("Recommender", "build_recommender"):
        from hncf.serving import recommender

        return getattr(recommender, name)
    if name == "create_app":
        from hncf.serving.web import create_app

        return create_app
    raise AttributeError(name)
