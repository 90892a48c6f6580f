"""Full-ranking evaluation at ML-20M scale: user blocks under a memory bound, ``tf.math.top_k``.

ML-20M's full ranking is 138k users x 27k items = 3.7 billion scores: never all at once. Users are
scored in blocks whose size follows from ``max_bytes`` (or is given as ``block_users``): each block is
one batched forward pass of the model over ``block x n_items`` pairs (or, for MF and GMF, one
matrix product), the block's excluded items (its training items) are set to ``-inf`` with one
scatter, and ``tf.math.top_k`` keeps the top K. Memory stays at one block whatever the number of
users; the block size is fixed (the last block is padded), so the scoring function is traced once.

Tie rule: as :mod:`hncf.evaluation.protocols`, the lower item index ranks first among equal
scores (``tf.math.top_k`` is documented to return the lower index first). Metrics are those of
:func:`~hncf.evaluation.protocols.evaluate_full_ranking`, computed on the same hit matrix.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from hncf.evaluation.protocols import TopK, as_row_lists, full_ranking_metrics

DEFAULT_MAX_BYTES = 256 << 20


def pair_bytes(model: keras.Model) -> int:
    """Bytes one scored (user, item) pair costs in a forward pass: inputs plus every layer's output.

    An upper bound (all activations alive at once), so ``max_bytes`` is respected.
    """
    floats = 2
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = getattr(shape, "shape", None)
        if shape is not None and len(shape) >= 1:
            floats += int(np.prod([d for d in shape[1:] if d is not None] or [1]))
    return 4 * floats


def matrix_product_scorer(model: keras.Model):
    """``score_block(users) -> [b, n_items]`` as one matrix product for MF (``mf``) and GMF (``gmf``)
    models of :mod:`hncf.models.ncf`; None for other models (use the forward pass)."""
    names = {layer.name for layer in model.layers}
    if {"mf_user_embedding", "mf_item_embedding", "mf_user_bias", "mf_item_bias", "score"} <= names:
        P = model.get_layer("mf_user_embedding").embeddings
        Q = model.get_layer("mf_item_embedding").embeddings
        bu = model.get_layer("mf_user_bias").embeddings
        bi = model.get_layer("mf_item_bias").embeddings
        g = model.get_layer("score").global_bias

        def score(users):
            logits = tf.matmul(tf.gather(P, users), Q, transpose_b=True) + tf.gather(bu, users) + tf.reshape(bi, [1, -1])
            return tf.sigmoid(logits + g)

        return score
    if {"gmf_user_embedding", "gmf_item_embedding", "gmf_product", "prediction"} <= names and not any(
            n.startswith("mlp_") for n in names):
        P = model.get_layer("gmf_user_embedding").embeddings
        Q = model.get_layer("gmf_item_embedding").embeddings
        h, b = model.get_layer("prediction").kernel, model.get_layer("prediction").bias

        def score(users):
            return tf.sigmoid(tf.matmul(tf.gather(P, users), Q * tf.reshape(h, [1, -1]), transpose_b=True) + b)

        return score
    return None


def forward_pass_scorer(model: keras.Model, n_items: int, item_features: dict | None = None):
    """``score_block(users) -> [b, n_items]``: one forward pass over the block's ``b x n_items`` pairs."""
    tables = {k: tf.constant(v) for k, v in (item_features or {}).items()}
    all_items = tf.range(n_items, dtype=tf.int32)

    def score(users):
        b = tf.shape(users)[0]
        x = {"user_id": tf.repeat(tf.cast(users, tf.int32), n_items), "item_id": tf.tile(all_items, [b])}
        for key, table in tables.items():
            x[key] = tf.gather(table, x["item_id"])
        return tf.reshape(model(x, training=False), [b, n_items])

    return score


def _block_size(n_items: int, per_pair: int, max_bytes: int | None, block_users: int | None) -> int:
    if block_users is not None:
        if int(block_users) < 1:
            raise ValueError(f"block_users must be >= 1, got {block_users}")
        return int(block_users)
    max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
    # The score block, its float32 copy for top_k and the exclusion mask come on top of the pass.
    b = max_bytes // (n_items * (per_pair + 12))
    if b < 1:
        raise ValueError(f"max_bytes={max_bytes} is below one user's scores ({n_items} items x "
                         f"{per_pair + 12} bytes): raise it")
    return int(b)


def _block_cells(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """[(row in block, item)] of every listed item of the users ``rows``, vectorised."""
    starts, ends = indptr[rows], indptr[rows + 1]
    lengths = ends - starts
    total = int(lengths.sum())
    which = np.repeat(np.arange(rows.size, dtype=np.int64), lengths)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.stack([which, indices[np.repeat(starts, lengths) + offsets]], axis=1)


def top_k_blockwise(model_or_scorer, users, n_items: int, k: int, exclude=None, max_bytes: int | None = None,
                    block_users: int | None = None, item_features: dict | None = None) -> TopK:
    """Top-``k`` items of every user in ``users`` over all ``n_items`` items, in memory-bounded blocks.

    ``model_or_scorer`` is a Keras model with ``user_id`` / ``item_id`` inputs (MF and GMF are scored
    by a matrix product, others by a forward pass) or a function ``users -> [b, n_items]`` scores.
    ``exclude`` lists items never to rank per user index (CSR, ``(indptr, indices)`` or a list of
    arrays, one row per user index). Rows of users with fewer than ``k`` candidates are padded with
    item -1 and score -inf.
    """
    users = np.asarray(users, dtype=np.int64).ravel()
    if n_items < 1 or k < 1:
        raise ValueError(f"need n_items >= 1 and k >= 1, got {n_items}, {k}")
    if users.size and users.min() < 0:
        raise ValueError(f"negative user index {int(users.min())}")
    if isinstance(model_or_scorer, keras.Model):
        scorer = matrix_product_scorer(model_or_scorer) if not item_features else None
        per_pair = 8 if scorer is not None else pair_bytes(model_or_scorer)
        scorer = scorer or forward_pass_scorer(model_or_scorer, n_items, item_features)
    elif callable(model_or_scorer):
        scorer, per_pair = model_or_scorer, 8
    else:
        raise TypeError(f"expected a keras.Model or a function of user indices, got {type(model_or_scorer).__name__}")
    b = min(_block_size(n_items, per_pair, max_bytes, block_users), max(1, users.size))
    n_rows = int(users.max()) + 1 if users.size else 0
    ex = None
    if exclude is not None:
        if hasattr(exclude, "indptr"):
            rows_in = exclude.shape[0]
        elif isinstance(exclude, tuple) and len(exclude) == 2:
            rows_in = len(exclude[0]) - 1
        else:
            rows_in = len(exclude)
        ex = as_row_lists(exclude, rows_in, "exclude")
        if ex[0].shape[0] - 1 < n_rows:
            raise ValueError(f"exclude has {ex[0].shape[0] - 1} user rows but user index {n_rows - 1} is ranked")
        if ex[1].size and ex[1].max() >= n_items:
            raise ValueError(f"excluded item index {int(ex[1].max())} >= n_items = {n_items}")
    kk = min(k, n_items)

    # A model's scorer is traced once (fixed block shape); a user's function runs eagerly (it may be NumPy).
    score_block = tf.function(scorer) if isinstance(model_or_scorer, keras.Model) else scorer

    @tf.function(reduce_retracing=True)
    def mask_top_k(s, cells):
        s = tf.maximum(tf.cast(s, tf.float32), tf.float32.min)  # a legitimate -inf must not look like an excluded item
        s = tf.tensor_scatter_nd_update(s, cells, tf.fill([tf.shape(cells)[0]], -np.inf))
        return tf.math.top_k(s, k=kk, sorted=True)

    out_items = np.full((users.size, k), -1, dtype=np.int64)
    out_scores = np.full((users.size, k), -np.inf, dtype=np.float64)
    for start in range(0, users.size, b):
        block = users[start:start + b]
        m = block.size
        padded = np.concatenate([block, np.full(b - m, block[0])]) if m < b else block
        cells = _block_cells(*ex, block) if ex is not None else np.zeros((0, 2), np.int64)
        scores = score_block(tf.constant(padded))
        if tuple(scores.shape) != (b, n_items):
            raise ValueError(f"the scorer returned shape {tuple(scores.shape)} for {b} users; expected ({b}, {n_items})")
        top = mask_top_k(scores, tf.constant(cells, tf.int64))
        items, scores = top.indices.numpy()[:m], top.values.numpy()[:m].astype(np.float64)
        out_items[start:start + m, :kk] = np.where(np.isneginf(scores), -1, items)
        out_scores[start:start + m, :kk] = scores
    return TopK(users=users, items=out_items, scores=out_scores)


def evaluate_full_ranking_blockwise(model_or_scorer, test_users, test_items, n_items: int, k: int = 10,
                                    exclude=None, max_bytes: int | None = None, block_users: int | None = None,
                                    item_features: dict | None = None) -> dict:
    """The full-ranking protocol of :func:`~hncf.evaluation.protocols.evaluate_full_ranking` at scale.

    Relevant items are each test user's distinct test items; ``exclude`` (one row per user index,
    e.g. ``(indptr, indices)`` of the training items) are never ranked. Returns ``map``, ``map@k``,
    ``ndcg@k``, ``precision@k``, ``recall@k``, ``hr@k``, ``mrr`` and ``n_users`` with the same
    definitions and tie rule.
    """
    tu = np.asarray(test_users, dtype=np.int64).ravel()
    ti = np.asarray(test_items, dtype=np.int64).ravel()
    if tu.shape != ti.shape:
        raise ValueError(f"test_users {tu.shape} and test_items {ti.shape} must have equal length")
    if ti.size and (ti.min() < 0 or ti.max() >= n_items):
        raise ValueError(f"test item index out of range [0, {n_items})")
    keys = np.unique(tu * np.int64(n_items) + ti)
    users, n_relevant = np.unique(keys // n_items, return_counts=True)
    top = top_k_blockwise(model_or_scorer, users, n_items, k, exclude, max_bytes, block_users, item_features)
    return full_ranking_metrics(keys, users, n_relevant, top.items, n_items, k)


def csr_rows(users, items, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """``(indptr, indices)`` of each user index's distinct items (e.g. the training items to exclude)."""
    u = np.asarray(users, dtype=np.int64).ravel()
    i = np.asarray(items, dtype=np.int64).ravel()
    width = np.int64(i.max() + 1 if i.size else 1)
    keys = np.unique(u * width + i)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // width, minlength=n_users), out=indptr[1:])
    return indptr, keys % width


def blocks_for(n_users: int, n_items: int, max_bytes: int, per_pair: int = 8) -> int:
    """How many blocks a full ranking of ``n_users`` takes under ``max_bytes`` (for planning)."""
    return math.ceil(n_users / _block_size(n_items, per_pair, max_bytes, None))
