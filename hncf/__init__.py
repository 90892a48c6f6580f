"""hncf: Keras 3 reimplementations of hybrid neural collaborative filtering recommenders."""

__version__ = "0.1.0"


def load(path):
    """Load a trained bundle written by ``reproduce`` (``<out>/bundles/<protocol>/<row>``): a recommender to ask."""
    from hncf.serving.bundle import load_bundle

    return load_bundle(path)
