"""HNCF's training batches, importable as ``data_generators.hncf`` (defined in :mod:`hncf.generators.hncf`)."""

from hncf.generators.hncf import CachedFeatureSampler, EndToEndSampler

__all__ = ["CachedFeatureSampler", "EndToEndSampler"]
