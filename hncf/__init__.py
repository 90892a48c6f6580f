"""hncf: Keras 3 reimplementations of hybrid neural collaborative filtering recommenders."""

__version__ = "0.1.0"


def load(path):
    """Load a trained bundle written by ``reproduce`` (``<out>/bundles/<protocol>/<row>``): a recommender to ask."""
    from hncf.serving.bundle import load_bundle

    return load_bundle(path)


def recommend_from_text(model, text: str, k: int = 10):
    """Top-``k`` movies for a typed request from a query model (a folder of ``reproduce query`` or a loaded one)."""
    from hncf.serving.query import QueryModel, load_query_model
    from hncf.serving.query import recommend_from_text as _recommend

    if not isinstance(model, QueryModel):
        model = load_query_model(model)
    return _recommend(model, text, k=k)
