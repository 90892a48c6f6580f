"""Pointwise training batches for the NCF family: positives plus sampled negatives.

Negatives are resampled every epoch (He et al. 2017) from the items that are
not a known positive of the user. Each epoch's sample is a pure function of
``(seed, epoch)``.
"""

from __future__ import annotations

import numpy as np

from hncf.data.sampling import sample_negatives, user_item_csr
from hncf.generators.base import EpochBatches


class PointwiseNegativeSampler(EpochBatches):
    """Shuffled ``({"user_id", "item_id"}, label)`` batches, ``n_neg`` negatives per positive.

    The stream is infinite and batch ``k`` is a pure function of ``k``: it
    belongs to epoch ``start_epoch + k // batches_per_epoch``, whose negatives
    and order come from ``(seed, epoch)``. Train with
    ``fit(sampler, steps_per_epoch=sampler.batches_per_epoch, ...)``. Keying on
    the index, not on epoch callbacks, keeps every epoch's data independent of
    when tf.data prefetches it, so the same seed gives the same run and a run
    resumed at epoch ``e`` (``set_epoch(e)``) sees exactly the batches an
    uninterrupted one would.

    Args:
        users, items: contiguous indices of the training positives.
        n_users, n_items: sizes of the id spaces.
        n_neg: negatives per positive (4 in the NCF paper).
        batch_size: at most this many rows per batch (see :meth:`align_to`).
        seed: with the epoch number, fixes each epoch's negatives and order.
        exclude: CSR of items never to draw as negatives (defaults to the positives given).
    """

    def __init__(self, users, items, n_users: int, n_items: int, n_neg: int = 4, batch_size: int = 256,
                 seed: int = 0, exclude=None, **kwargs):
        super().__init__(batch_size, seed, **kwargs)
        self.users = np.asarray(users, dtype=np.int64)
        self.items = np.asarray(items, dtype=np.int64)
        if self.users.shape != self.items.shape or self.users.ndim != 1:
            raise ValueError(f"users and items must be 1-D of equal length, got {self.users.shape} and "
                             f"{self.items.shape}")
        if len(self.users) == 0:
            raise ValueError("no training positives")
        self.n_users, self.n_items = int(n_users), int(n_items)
        self.n_neg = int(n_neg)
        self.exclude = exclude if exclude is not None else user_item_csr(self.users, self.items, n_users, n_items)
        self._cache = (None, None)

    @property
    def rows_per_epoch(self) -> int:
        """Positives plus their negatives: the number of examples one epoch feeds."""
        return len(self.users) * (1 + self.n_neg)

    def epoch_arrays(self, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The shuffled (users, items, labels) of ``epoch``; the latest epoch is cached."""
        cached_epoch, arrays = self._cache
        if cached_epoch != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            neg = sample_negatives(self.users, self.n_items, self.exclude, self.n_neg, rng).ravel()
            users = np.concatenate([self.users, np.repeat(self.users, self.n_neg)])
            items = np.concatenate([self.items, neg])
            labels = np.concatenate([np.ones(len(self.users)), np.zeros(len(neg))])
            order = rng.permutation(len(users))
            arrays = (users[order].astype(np.int32), items[order].astype(np.int32),
                      labels[order].astype(np.float32))
            self._cache = (epoch, arrays)
        return arrays

    def epoch_batch(self, epoch: int, rows: slice):
        users, items, labels = self.epoch_arrays(epoch)
        return {"user_id": users[rows], "item_id": items[rows]}, labels[rows]
