"""``keras.utils.PyDataset`` generators the trainer feeds: batch ``k`` is a pure function of ``k``.

* :class:`EpochBatches`: the shared base (epochs cut into whole compiled calls, exact resume).
* :class:`ArrayBatches`: fixed examples reshuffled per epoch (multi-label, softmax, ratings).
* :class:`PointwiseNegativeSampler`: positives plus negatives resampled per epoch (NCF family).
* :class:`PairFeatureSampler`: the same rows plus inputs of the pair (BERT-RS's review vector).
* :class:`CachedFeatureSampler`, :class:`EndToEndSampler`: HNCF rows with item content.
"""

from hncf.generators.arrays import ArrayBatches
from hncf.generators.base import EpochBatches
from hncf.generators.hncf import CachedFeatureSampler, EndToEndSampler
from hncf.generators.ncf import PointwiseNegativeSampler
from hncf.generators.pairs import PairFeatureSampler

__all__ = ["ArrayBatches", "EpochBatches", "PointwiseNegativeSampler", "PairFeatureSampler", "CachedFeatureSampler", "EndToEndSampler"]
