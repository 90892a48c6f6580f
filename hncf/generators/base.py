"""Epoch-keyed batching that makes training resumable and reproducible.

Every generator the trainer feeds derives from :class:`EpochBatches`: the stream is infinite
and batch ``k`` is a pure function of ``k``. It belongs to epoch ``start_epoch + k //
batches_per_epoch``, whose rows and order come from ``(seed, epoch)``. Keying on the index,
not on epoch callbacks, keeps each epoch's data independent of when tf.data prefetches it, so
the same seed gives the same run, and a run resumed at epoch ``e`` (``set_epoch(e)``) sees
exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import math

import keras


class EpochBatches(keras.utils.PyDataset):
    """Base class: subclasses define ``rows_per_epoch`` and ``epoch_batch(epoch, rows_slice)``."""

    def __init__(self, batch_size: int, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.start_epoch = 0
        self.steps_multiple = 1

    @property
    def rows_per_epoch(self) -> int:
        """Examples one epoch feeds."""
        raise NotImplementedError

    def epoch_batch(self, epoch: int, rows: slice):
        """The batch of rows ``rows`` of epoch ``epoch``'s (shuffled) order: ``(x, y)``."""
        raise NotImplementedError

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

    def __getitem__(self, index: int):
        if index < 0:
            raise IndexError(f"batch index must be >= 0, got {index}")
        n_batches = self.batches_per_epoch
        epoch, k = divmod(int(index), n_batches)
        rows = self.rows_per_epoch
        return self.epoch_batch(self.start_epoch + epoch, slice(k * rows // n_batches, (k + 1) * rows // n_batches))
