"""NCF training batches at ML-20M scale: a pure ``tf.data`` pipeline with exact negatives per batch.

Why not the NumPy sampler (:class:`~hncf.generators.ncf.PointwiseNegativeSampler`) at scale: it
materialises every epoch (ML-20M with 4 negatives: 100M rows) and checks each draw against the
positives by rejection. Microsoft Recommenders' sampler goes further and builds, per user, the set of
all items the user has *not* rated (ML-20M: 138k users x 27k items = 3.7 billion cells), which is
what runs out of memory on ML-20M (recommenders #1379).

Here nothing per epoch is materialised beyond one permutation of the positives (int32), and a
negative is drawn *exactly* from the user's unrated items without rejection or a per-user free
list: for user ``u`` with sorted positives ``p_0 < p_1 < ...``, the ``r``-th unrated item is
``r + #{k : p_k - k <= r}``, a single ``tf.searchsorted`` into one sorted int64 array of
``u * n_items + p_k - k`` (one entry per positive, 160 MB for ML-20M). With ``r`` uniform in
``[0, n_items - degree(u))`` this is uniform over the user's unrated items, as He et al.'s sampler.

Every batch is a pure function of ``(seed, epoch, batch index)`` (stateless random ops), so a run
resumed at epoch ``e`` sees the same batches as an uninterrupted run, under any ``tf.distribute``
strategy. The whole pipeline is TensorFlow ops, so on a GPU the positives, the permutation and the
sampling can run beside the model with no Python in the loop (the Python-generator pipeline is what
made Recommenders' NCF slower on a GPU than on a CPU, recommenders #1734).

Batch layout: ``batch_size // (1 + n_neg)`` positives, each followed by its ``n_neg`` negatives;
the shuffled order is over positives. Every batch has the same shape (the last batch of an epoch
wraps around to the start of the epoch's permutation), which keeps one compiled step and lets the
global batch split evenly across replicas.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf


def scaled_learning_rate(base_lr: float, base_batch: int, batch_size: int) -> float:
    """Linear scaling rule (Goyal et al. 2017): ``base_lr * batch_size / base_batch``."""
    if base_batch < 1 or batch_size < 1 or not base_lr > 0:
        raise ValueError(f"need base_lr > 0 and batch sizes >= 1, got {base_lr}, {base_batch}, {batch_size}")
    return float(base_lr) * float(batch_size) / float(base_batch)


def _positives(users, items, n_users: int, n_items: int):
    """Distinct positives sorted by (user, item) and the per-user row pointer."""
    u = np.asarray(users, dtype=np.int64).ravel()
    i = np.asarray(items, dtype=np.int64).ravel()
    if u.shape != i.shape:
        raise ValueError(f"users and items must have equal length, got {u.shape} and {i.shape}")
    for name, a, n in (("user", u, n_users), ("item", i, n_items)):
        if a.size and (a.min() < 0 or a.max() >= n):
            bad = a[(a < 0) | (a >= n)][0]
            raise ValueError(f"{name} index {int(bad)} out of range [0, {n})")
    keys = np.unique(u * n_items + i)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // n_items, minlength=n_users), out=indptr[1:])
    return keys, indptr


def unrated_item_table(users, items, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(adjusted_keys, indptr, n_free)`` for exact sampling among each user's unrated items.

    ``adjusted_keys`` is sorted: ``u * n_items + p_k - k`` for the ``k``-th positive ``p_k`` of user
    ``u``; ``n_free[u]`` is how many items ``u`` has not rated.
    """
    keys, indptr = _positives(users, items, n_users, n_items)
    rows = keys // n_items
    rank = np.arange(keys.size, dtype=np.int64) - indptr[rows]
    n_free = n_items - np.diff(indptr)
    return keys - rank, indptr, n_free


def nth_unrated_item(adjusted_keys, indptr, n_items: int, users, r):
    """The ``r``-th (0-based) item user ``users`` has not rated (TensorFlow ops, vectorised)."""
    users = tf.cast(users, tf.int64)
    r = tf.cast(r, tf.int64)
    j = tf.searchsorted(adjusted_keys, users * n_items + r, side="right", out_type=tf.int64) - tf.gather(indptr, users)
    return r + j


class TFNegativeSampler:
    """Infinite ``tf.data`` stream of ``({"user_id", "item_id"}, label)`` batches with negatives per batch.

    The interface matches :class:`~hncf.generators.base.EpochBatches` (``set_epoch``, ``align_to``,
    ``batches_per_epoch``, ``rows_per_epoch``), and :meth:`as_dataset` gives what ``model.fit``
    reads: under a ``tf.distribute`` strategy scope, a distributed dataset in which every replica
    (on any worker) receives its slice of the same global batch.

    Args:
        users, items: contiguous indices of the training positives (int arrays, may be memory maps).
        n_users, n_items: sizes of the index spaces.
        n_neg: negatives per positive (4 in He et al.).
        batch_size: global rows per batch (rounded down to a multiple of ``1 + n_neg``).
        seed: with the epoch and batch index, fixes every negative and the order.
        exclude: ``(users, items)`` never to draw as negatives; defaults to the positives.
    """

    def __init__(self, users, items, n_users: int, n_items: int, n_neg: int = 4, batch_size: int = 1 << 16,
                 seed: int = 0, exclude=None):
        self.n_users, self.n_items, self.n_neg = int(n_users), int(n_items), int(n_neg)
        if self.n_neg < 0:
            raise ValueError(f"n_neg must be >= 0, got {n_neg}")
        self.positives_per_batch = int(batch_size) // (1 + self.n_neg)
        if self.positives_per_batch < 1:
            raise ValueError(f"batch_size {batch_size} holds no positive with {n_neg} negatives each")
        self.batch_size = self.positives_per_batch * (1 + self.n_neg)
        self.seed = int(seed)
        users = np.asarray(users)
        items = np.asarray(items)
        if users.shape != items.shape or users.ndim != 1 or users.size == 0:
            raise ValueError(f"users and items must be 1-D, non-empty, of equal length; got {users.shape}, "
                             f"{items.shape}")
        ex_u, ex_i = (users, items) if exclude is None else exclude
        adjusted, indptr, n_free = unrated_item_table(ex_u, ex_i, self.n_users, self.n_items)
        trained = np.unique(np.asarray(users, dtype=np.int64))
        full = trained[n_free[trained] < 1]
        if self.n_neg and full.size:
            raise ValueError(f"user index {int(full[0])} has rated all {n_items} items: no negative to sample "
                             f"({full.size} such user(s))")
        self.n_positives = int(users.size)
        # Constants on the host device: the pipeline's own ops run there, beside the model.
        with tf.device("/cpu:0"):
            self._users = tf.constant(users.astype(np.int32, copy=False))
            self._items = tf.constant(items.astype(np.int32, copy=False))
            self._adjusted = tf.constant(adjusted)
            self._indptr = tf.constant(indptr)
            self._n_free = tf.constant(n_free.astype(np.int64))
        self.start_epoch = 0
        self.steps_multiple = 1

    # -- the EpochBatches interface -------------------------------------------------------
    @property
    def batches_per_epoch(self) -> int:
        """Steps per epoch: every positive at least once, rounded up to whole ``steps_multiple`` calls."""
        plain = math.ceil(self.n_positives / self.positives_per_batch)
        return math.ceil(plain / self.steps_multiple) * self.steps_multiple

    @property
    def rows_per_epoch(self) -> int:
        """Examples per epoch (a few positives repeat to fill the last batch)."""
        return self.batches_per_epoch * self.batch_size

    def align_to(self, steps_per_execution: int) -> int:
        """Make epochs whole multiples of ``steps_per_execution`` compiled steps; returns it."""
        self.steps_multiple = max(1, int(steps_per_execution))
        return self.steps_multiple

    def set_epoch(self, epoch: int) -> None:
        """Make the first batch of :meth:`as_dataset` the first batch of ``epoch`` (resume)."""
        self.start_epoch = int(epoch)

    # -- batches --------------------------------------------------------------------------
    def _epoch_order(self, epoch):
        """Positive row indices of ``epoch`` as ``[batches_per_epoch, positives_per_batch]``."""
        seed = tf.random.experimental.stateless_fold_in(tf.constant([self.seed, 0], tf.int64), epoch)
        perm = tf.random.experimental.stateless_shuffle(tf.range(self.n_positives, dtype=tf.int64), seed)
        need = self.batches_per_epoch * self.positives_per_batch
        reps = -(-need // self.n_positives)
        return tf.reshape(tf.tile(perm, [reps])[:need], [self.batches_per_epoch, self.positives_per_batch])

    def _batch(self, epoch, k, rows):
        """Batch ``k`` of ``epoch`` from its positive rows: each positive followed by its negatives."""
        u = tf.gather(self._users, rows)
        i = tf.gather(self._items, rows)
        p, n = self.positives_per_batch, self.n_neg
        if n == 0:
            return {"user_id": u, "item_id": i}, tf.ones([p], tf.float32)
        seed = tf.random.experimental.stateless_fold_in(
            tf.random.experimental.stateless_fold_in(tf.constant([self.seed, 1], tf.int64), epoch), k)
        nu = tf.repeat(tf.cast(u, tf.int64), n)
        free = tf.cast(tf.gather(self._n_free, nu), tf.float64)
        r = tf.minimum(tf.cast(tf.floor(tf.random.stateless_uniform([p * n], seed, dtype=tf.float64) * free),
                               tf.int64), tf.cast(free, tf.int64) - 1)
        neg = tf.cast(nth_unrated_item(self._adjusted, self._indptr, self.n_items, nu, r), tf.int32)
        items = tf.reshape(tf.concat([i[:, None], tf.reshape(neg, [p, n])], axis=1), [-1])
        users = tf.repeat(u, 1 + n)
        labels = tf.tile(tf.constant([1.0] + [0.0] * n, tf.float32), [p])
        return {"user_id": users, "item_id": items}, labels

    def _global_batches(self, epochs: int | None = None) -> tf.data.Dataset:
        """(epoch, batch index, positive rows) for every step from :attr:`start_epoch` on."""
        stop = None if epochs is None else self.start_epoch + int(epochs)
        ds = tf.data.Dataset.range(self.start_epoch, stop if stop is not None else np.iinfo(np.int64).max)

        def epoch_rows(epoch):
            order = tf.data.Dataset.from_tensor_slices(self._epoch_order(epoch))
            return tf.data.Dataset.zip(tf.data.Dataset.from_tensors(epoch).repeat(),
                                       tf.data.Dataset.range(self.batches_per_epoch), order)

        return ds.flat_map(epoch_rows)

    def dataset(self, epochs: int | None = None, n_slices: int = 1, slices=None) -> tf.data.Dataset:
        """Global batches (``n_slices=1``) or, for replicas, the listed ``slices`` of each global
        batch in turn (``n_slices`` equal slices of whole positive groups)."""
        ds = self._global_batches(epochs)
        if n_slices == 1:
            ds = ds.map(self._batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        else:
            if self.positives_per_batch % n_slices:
                raise ValueError(f"{self.positives_per_batch} positives per batch do not split into {n_slices} "
                                 f"replicas: make batch_size a multiple of {(1 + self.n_neg) * n_slices}")
            width = self.positives_per_batch // n_slices
            wanted = tf.constant(list(slices), tf.int64)

            def sliced(epoch, k, rows):
                x, y = self._batch(epoch, k, rows)
                per = width * (1 + self.n_neg)
                parts = [({key: v[s * per:(s + 1) * per] for key, v in x.items()}, y[s * per:(s + 1) * per])
                         for s in range(n_slices)]
                xs = {key: tf.gather(tf.stack([p[0][key] for p in parts]), wanted) for key in x}
                return tf.data.Dataset.from_tensor_slices((xs, tf.gather(tf.stack([p[1] for p in parts]), wanted)))

            ds = ds.flat_map(sliced)
        options = tf.data.Options()
        options.deterministic = True
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)

    def as_dataset(self, strategy: tf.distribute.Strategy | None = None):
        """What ``model.fit`` reads: plain global batches, or under a multi-replica strategy (default:
        the current scope's) a distributed dataset where replica ``r`` gets slice ``r`` of every
        global batch, so 1, 2 or N devices on one or many machines train on the same examples."""
        strategy = strategy or tf.distribute.get_strategy()
        n = strategy.num_replicas_in_sync
        if n == 1:
            return self.dataset()

        def per_pipeline(ctx: tf.distribute.InputContext):
            per = n // ctx.num_input_pipelines  # replicas fed by this pipeline (one pipeline per worker)
            first = ctx.input_pipeline_id * per
            return self.dataset(n_slices=n, slices=range(first, first + per))

        return strategy.distribute_datasets_from_function(per_pipeline)
