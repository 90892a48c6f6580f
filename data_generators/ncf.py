"""The NCF family's training batches, importable as ``data_generators.ncf`` (defined in :mod:`hncf.generators.ncf`).

The generators live inside the package so that ``hncf``'s experiments never import this folder
(``data_generators`` depends on ``hncf``, never the reverse).
"""

from hncf.generators.ncf import PointwiseNegativeSampler

__all__ = ["PointwiseNegativeSampler"]
