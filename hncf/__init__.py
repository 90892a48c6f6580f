"""hncf: Keras 3 reimplementations of hybrid neural collaborative filtering recommenders."""

__version__ = "0.1.0"
