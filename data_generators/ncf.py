"""Pointwise training batches for the NCF family: positives plus sampled negatives.

Negatives are resampled every epoch (He et al. 2017) from the items that are
not a known positive of the user. Each epoch's sample is a pure function of
``(seed, epoch)``.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from hncf.data.sampling import sample_negatives, user_item_csr


class PointwiseNegativeSampler(keras.utils.PyDataset):
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
        super().__init__(**kwargs)
        self.users = np.asarray(users, dtype=np.int64)
        self.items = np.asarray(items, dtype=np.int64)
        if self.users.shape != self.items.shape or self.users.ndim != 1:
            raise ValueError(f"users and items must be 1-D of equal length, got {self.users.shape} and "
                             f"{self.items.shape}")
        if len(self.users) == 0:
            raise ValueError("no training positives")
        self.n_users, self.n_items = int(n_users), int(n_items)
        self.n_neg, self.batch_size, self.seed = int(n_neg), int(batch_size), int(seed)
        self.exclude = exclude if exclude is not None else user_item_csr(self.users, self.items, n_users, n_items)
        self.start_epoch = 0
        self.steps_multiple = 1
        self._cache = (None, None)

    @property
    def rows_per_epoch(self) -> int:
        """Positives plus their negatives: the number of examples one epoch feeds."""
        return len(self.users) * (1 + self.n_neg)

    @property
    def batches_per_epoch(self) -> int:
        """Steps in one epoch, a multiple of ``steps_multiple``: pass it as ``steps_per_epoch``."""
        return math.ceil(math.ceil(self.rows_per_epoch / self.batch_size) / self.steps_multiple) * self.steps_multiple

    def align_to(self, steps_per_execution: int) -> int:
        """Cut epochs into whole multiples of ``steps_per_execution``; returns the multiple used.

        Keras runs every compiled call for all its steps, so an epoch that is not a
        whole number of calls would borrow batches of the next epoch. Batches are
        balanced instead: all rows are used once per epoch and no batch exceeds
        ``batch_size`` (e.g. 254-255 rows where 256 would leave a partial call).
        The multiple is capped so no batch is empty.
        """
        plain = math.ceil(self.rows_per_epoch / self.batch_size)
        self.steps_multiple = max(1, min(int(steps_per_execution), plain))
        if self.batches_per_epoch > self.rows_per_epoch:
            self.steps_multiple = 1
        return self.steps_multiple

    @property
    def num_batches(self):
        return None  # infinite: epochs are cut by steps_per_epoch

    def set_epoch(self, epoch: int) -> None:
        """Make batch 0 the first batch of ``epoch`` (used when resuming from a checkpoint)."""
        self.start_epoch = int(epoch)

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

    def __getitem__(self, index: int):
        if index < 0:
            raise IndexError(f"batch index must be >= 0, got {index}")
        n_batches = self.batches_per_epoch
        epoch, k = divmod(int(index), n_batches)
        users, items, labels = self.epoch_arrays(self.start_epoch + epoch)
        rows = self.rows_per_epoch
        s = slice(k * rows // n_batches, (k + 1) * rows // n_batches)
        return {"user_id": users[s], "item_id": items[s]}, labels[s]
