"""Pointwise rows plus inputs that depend on the (user, item) pair, such as BERT-RS's review vector."""

from __future__ import annotations

from hncf.generators.ncf import PointwiseNegativeSampler


class PairFeatureSampler(PointwiseNegativeSampler):
    """The NCF sampler's rows (negatives resampled per epoch) with ``pair_features(users, items)``'s inputs.

    ``pair_features`` must be vectorised: it receives the whole batch's index arrays and returns a
    dict of arrays with one row per pair.
    """

    def __init__(self, users, items, n_users, n_items, pair_features, **kwargs):
        super().__init__(users, items, n_users, n_items, **kwargs)
        self.pair_features = pair_features

    def epoch_batch(self, epoch: int, rows: slice):
        x, y = super().epoch_batch(epoch, rows)
        x.update(self.pair_features(x["user_id"], x["item_id"]))
        return x, y
