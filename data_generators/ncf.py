"""Pointwise training batches for the NCF family: positives plus sampled negatives.

Negatives are resampled every epoch (He et al. 2017) from the items that are
not a known positive of the user. Each epoch's sample is a pure function of
``(seed, epoch)``, so a run resumed from a checkpoint at epoch ``e`` sees
exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from hncf.data.sampling import sample_negatives, user_item_csr


class PointwiseNegativeSampler(keras.utils.PyDataset):
    """Shuffled ``({"user_id", "item_id"}, label)`` batches, ``n_neg`` negatives per positive.

    Args:
        users, items: contiguous indices of the training positives.
        n_users, n_items: sizes of the id spaces.
        n_neg: negatives per positive (4 in the NCF paper).
        batch_size: rows per batch; the last partial batch is kept.
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
        self.epoch = 0
        self._arrays = None

    @property
    def rows_per_epoch(self) -> int:
        """Positives plus their negatives: the number of examples one epoch feeds."""
        return len(self.users) * (1 + self.n_neg)

    def __len__(self) -> int:
        return math.ceil(self.rows_per_epoch / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Position the sampler at ``epoch`` (used when resuming from a checkpoint)."""
        if epoch != self.epoch:
            self.epoch = int(epoch)
            self._arrays = None

    def epoch_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This epoch's shuffled (users, items, labels), sampled on first use."""
        if self._arrays is None:
            rng = np.random.default_rng([self.seed, self.epoch])
            neg = sample_negatives(self.users, self.n_items, self.exclude, self.n_neg, rng).ravel()
            users = np.concatenate([self.users, np.repeat(self.users, self.n_neg)])
            items = np.concatenate([self.items, neg])
            labels = np.concatenate([np.ones(len(self.users)), np.zeros(len(neg))])
            order = rng.permutation(len(users))
            self._arrays = (users[order].astype(np.int32), items[order].astype(np.int32),
                            labels[order].astype(np.float32))
        return self._arrays

    def __getitem__(self, index: int):
        if index < 0 or index >= len(self):
            raise IndexError(f"batch {index} out of range [0, {len(self)})")
        users, items, labels = self.epoch_arrays()
        s = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return {"user_id": users[s], "item_id": items[s]}, labels[s]

    def on_epoch_end(self) -> None:
        self.set_epoch(self.epoch + 1)
