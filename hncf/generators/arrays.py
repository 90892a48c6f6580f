"""Fixed training examples (features and targets already in arrays), reshuffled every epoch.

For models whose examples do not change between epochs: multi-label request -> movies, tags ->
movie, ratings for an MSE model. Each epoch's order is a pure function of ``(seed, epoch)``.
"""

from __future__ import annotations

import numpy as np

from hncf.generators.base import EpochBatches


class ArrayBatches(EpochBatches):
    """``(x, y)`` batches from ``x`` (a dict of equal-length arrays) and ``y`` (array or dict of arrays).

    ``shuffle=False`` keeps file order (for evaluation streams). String features must be
    tokenised or given as ``tf.constant`` by the caller: Keras rejects NumPy string arrays.
    """

    def __init__(self, x: dict, y, batch_size: int = 256, seed: int = 0, shuffle: bool = True, **kwargs):
        super().__init__(batch_size, seed, **kwargs)
        if not isinstance(x, dict) or not x:
            raise ValueError("x must be a non-empty dict of input name -> array")
        self.x = {name: np.asarray(v) for name, v in x.items()}
        self.y = {name: np.asarray(v) for name, v in y.items()} if isinstance(y, dict) else np.asarray(y)
        lengths = {name: len(v) for name, v in self.x.items()}
        ys = self.y.values() if isinstance(self.y, dict) else [self.y]
        lengths.update({f"y[{i}]": len(v) for i, v in enumerate(ys)})
        if len(set(lengths.values())) != 1:
            raise ValueError(f"x and y must have equal lengths, got {lengths}")
        self.n = next(iter(lengths.values()))
        if self.n == 0:
            raise ValueError("no training examples")
        self.shuffle = bool(shuffle)
        self._order = (None, None)

    @property
    def rows_per_epoch(self) -> int:
        return self.n

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The row order of ``epoch`` (the latest is cached)."""
        cached, order = self._order
        if cached != epoch:
            order = (np.random.default_rng([self.seed, epoch]).permutation(self.n) if self.shuffle
                     else np.arange(self.n))
            self._order = (epoch, order)
        return order

    def epoch_batch(self, epoch: int, rows: slice):
        idx = self.epoch_order(epoch)[rows]
        x = {name: v[idx] for name, v in self.x.items()}
        y = {name: v[idx] for name, v in self.y.items()} if isinstance(self.y, dict) else self.y[idx]
        return x, y
