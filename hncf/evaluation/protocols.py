"""Evaluation protocols: sampled leave-one-out, full ranking, classification, rating.

Every model plugs in through a scoring function
``score_fn(users: int64[n], items: int64[n]) -> float[n]`` over equal-length
pair arrays. The protocols call it on large flattened blocks (a block of users
times all items, or a block of test rows times their candidates), never per pair.

Keep the numbers of the protocols apart (see DESIGN.md, "Evaluation protocols"):

1. :func:`evaluate_sampled`: He et al. 2017, each held-out positive ranked
   against its sampled negatives; HR@K, NDCG@K, MRR.
2. :func:`evaluate_full_ranking`: Microsoft Recommenders, every item not seen in
   training ranked for every test user; MAP, MAP@K, NDCG@K, P@K, R@K, HR@K, MRR@K.
3. :func:`evaluate_classification`: labelled held-out pairs at a threshold.
4. :func:`evaluate_rating`: RMSE and MAE of predicted ratings.

Tie rules for equal scores:

- Sampled protocol: ties count against the positive
  (rank = 1 + #negatives scoring >= the positive), see :func:`rank_of_positive`.
- Full ranking / top-K: among equal scores the lower item index ranks first.
  This is deterministic and independent of the user block size; it matches
  Recommenders' ``get_top_k_items`` (a stable sort) when its input is ordered by
  item.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from hncf.data.schema import ITEM, USER
from hncf.evaluation import metrics as M

__all__ = [
    "TopK",
    "evaluate_sampled",
    "evaluate_full_ranking",
    "evaluate_classification",
    "evaluate_rating",
    "top_k_items",
    "top_k_rows",
    "evaluate_rows",
    "as_row_lists",
]

ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

# Pairs per score_fn call in the full-ranking protocol when user_block is not
# given: ML-100K (943 x 1,682 = 1.6M pairs) fits in one call, and the float64
# score block plus the two index arrays stay around 50 MB.
_FULL_RANKING_PAIRS = 2**21
_DEFAULT_BATCH = 2**17

# Legitimate -inf scores are lifted to this value so that -inf can mark excluded
# (training) items alone: an excluded item can then never displace a real candidate.
_LOWEST = np.finfo(np.float64).min


class TopK(NamedTuple):
    """Top-K recommendations: ``items[j, r]`` is the item at rank ``r + 1`` for ``users[j]``.

    Rows of users with fewer than K candidate items are padded with item ``-1``
    and score ``-inf``.
    """

    users: np.ndarray  # (n,) int64
    items: np.ndarray  # (n, k) int64
    scores: np.ndarray  # (n, k) float64


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _index_array(x, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        if arr.size and not (np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr))):
            raise TypeError(f"{name} must hold integer indices; got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} has negative indices (min {int(arr.min())})")
    return arr


def _call(score_fn: ScoreFn, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    out = np.asarray(score_fn(users, items))
    n = users.shape[0]
    # Keras models return (n, 1); accept that, reject anything that is not one score per pair.
    if out.shape == (n, 1):
        out = out[:, 0]
    if out.shape != (n,):
        raise ValueError(
            f"score_fn returned shape {out.shape} for {n} (user, item) pairs; expected ({n},) or ({n}, 1)"
        )
    out = out.astype(np.float64, copy=False)
    n_nan = int(np.isnan(out).sum())
    if n_nan:
        raise ValueError(f"score_fn returned {n_nan} NaN score(s) out of {n}; did training diverge?")
    return out


def _score_in_batches(score_fn: ScoreFn, users, items, batch_size: int, names=("users", "items")) -> np.ndarray:
    users = _index_array(users, names[0])
    items = _index_array(items, names[1])
    if users.shape != items.shape:
        raise ValueError(f"{names[0]} {users.shape} and {names[1]} {items.shape} must have equal length")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    out = np.empty(users.shape[0], dtype=np.float64)
    for start in range(0, users.shape[0], batch_size):
        stop = start + batch_size
        out[start:stop] = _call(score_fn, users[start:stop], items[start:stop])
    return out


def _csr_from_pairs(users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row pointer and column indices of the (user, item) pairs grouped by user."""
    order = np.argsort(users, kind="stable")
    n_rows = int(users.max()) + 1 if users.size else 0
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=n_rows), out=indptr[1:])
    return indptr, items[order]


def _as_csr(exclude) -> tuple[np.ndarray, np.ndarray] | None:
    if exclude is None:
        return None
    if hasattr(exclude, "indptr") and hasattr(exclude, "indices"):  # scipy.sparse CSR, duck-typed
        return np.asarray(exclude.indptr, dtype=np.int64), np.asarray(exclude.indices, dtype=np.int64)
    if isinstance(exclude, tuple) and len(exclude) == 2:
        return np.asarray(exclude[0], dtype=np.int64), np.asarray(exclude[1], dtype=np.int64)
    raise TypeError(
        "exclude_csr must be a CSR matrix (with .indptr and .indices; rows = users, columns = items) "
        f"or a tuple (indptr, indices); got {type(exclude).__name__}"
    )


def _excluded_cells(indptr: np.ndarray, indices: np.ndarray, block_users: np.ndarray):
    """(row-in-block, item) of every excluded cell for a block of users, without a Python loop."""
    n_rows = indptr.shape[0] - 1
    inside = block_users < n_rows  # users past the CSR's last row have nothing to exclude
    safe = np.where(inside, block_users, 0)
    starts = np.where(inside, indptr[safe], 0)
    lengths = np.where(inside, indptr[safe + 1] - starts, 0) if n_rows > 0 else np.zeros_like(starts)
    total = int(lengths.sum())
    rows = np.repeat(np.arange(block_users.shape[0]), lengths)
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return rows, indices[np.repeat(starts, lengths) + offsets]


def _select_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k columns of each row ordered by (-score, column): ties go to the lower column.

    ``np.argpartition`` alone picks arbitrarily among values tied with the k-th,
    so the k-th value is found with ``np.partition`` and the tied columns are
    taken lowest index first; only rows that actually tie at the boundary pay
    for the cumulative count.
    """
    b, n = scores.shape
    kk = min(k, n)
    if kk == n:
        cand = np.broadcast_to(np.arange(n), (b, n))
    else:
        kth = np.partition(scores, n - kk, axis=1)[:, n - kk]
        greater = scores > kth[:, None]
        equal = scores == kth[:, None]
        need = kk - greater.sum(axis=1)
        tied_rows = np.flatnonzero(equal.sum(axis=1) > need)
        if tied_rows.size:
            eq = equal[tied_rows]
            equal[tied_rows] = eq & (np.cumsum(eq, axis=1) <= need[tied_rows, None])
        _, cols = np.nonzero(greater | equal)  # row-major: exactly kk per row, columns ascending
        cand = cols.reshape(b, kk)
    cand_scores = np.take_along_axis(scores, cand, axis=1)
    # Stable sort on -score keeps the ascending column order among equal scores.
    order = np.argsort(-cand_scores, axis=1, kind="stable")
    return np.take_along_axis(cand, order, axis=1), np.take_along_axis(cand_scores, order, axis=1)


# ---------------------------------------------------------------------------
# Top-K serving
# ---------------------------------------------------------------------------


def top_k_items(
    score_fn: ScoreFn,
    users,
    n_items: int,
    k: int,
    exclude_csr=None,
    user_block: int | None = None,
) -> TopK:
    """Top-k items for each user by scoring all ``n_items`` items in user blocks.

    ``exclude_csr`` (a CSR matrix with users as rows, or a tuple
    ``(indptr, indices)``) lists items never to recommend, typically the user's
    training items. Ties: lower item index first. Users with fewer than k
    candidates get rows padded with item -1 / score -inf. ``user_block`` is the
    number of users per ``score_fn`` call (default: about 2M pairs per call).
    """
    users = _index_array(users, "users")
    if n_items < 1:
        raise ValueError(f"n_items must be >= 1; got {n_items}")
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    csr = _as_csr(exclude_csr)
    if user_block is None:
        user_block = max(1, _FULL_RANKING_PAIRS // n_items)
    if user_block < 1:
        raise ValueError(f"user_block must be >= 1; got {user_block}")

    n = users.shape[0]
    out_items = np.full((n, k), -1, dtype=np.int64)
    out_scores = np.full((n, k), -np.inf, dtype=np.float64)
    all_items = np.arange(n_items, dtype=np.int64)
    for start in range(0, n, user_block):
        block = users[start : start + user_block]
        b = block.shape[0]
        scores = _call(score_fn, np.repeat(block, n_items), np.tile(all_items, b)).reshape(b, n_items)
        # A new array, never in place: score_fn may have returned a buffer the caller still owns.
        scores = np.maximum(scores, _LOWEST)
        if csr is not None:
            rows, cols = _excluded_cells(csr[0], csr[1], block)
            if cols.size and cols.max() >= n_items:
                raise ValueError(f"excluded item index {int(cols.max())} >= n_items = {n_items}")
            scores[rows, cols] = -np.inf
        items, top = _select_top_k(scores, k)
        padded = np.isneginf(top)  # only excluded items are -inf: fewer than k candidates
        items = np.where(padded, -1, items)
        out_items[start : start + b, : items.shape[1]] = items
        out_scores[start : start + b, : top.shape[1]] = top
    return TopK(users=users, items=out_items, scores=out_scores)


def as_row_lists(items, n_rows: int, name: str = "relevant") -> tuple[np.ndarray, np.ndarray]:
    """``(indptr, indices)`` of per-row item lists given as a CSR matrix, ``(indptr, indices)`` or a
    sequence of index arrays (one per row; duplicates within a row are dropped)."""
    if items is None:
        return np.zeros(n_rows + 1, np.int64), np.zeros(0, np.int64)
    if hasattr(items, "indptr") or (isinstance(items, tuple) and len(items) == 2):
        indptr, indices = _as_csr(items)
    else:
        lists = [np.unique(np.asarray(r, dtype=np.int64).reshape(-1)) for r in items]
        indptr = np.zeros(len(lists) + 1, np.int64)
        np.cumsum([len(r) for r in lists], out=indptr[1:])
        indices = np.concatenate(lists) if lists else np.zeros(0, np.int64)
    if indptr.shape[0] - 1 != n_rows:
        raise ValueError(f"{name} has {indptr.shape[0] - 1} rows but there are {n_rows} score rows")
    if indices.size and indices.min() < 0:
        raise ValueError(f"{name} has a negative item index {int(indices.min())}")
    return indptr, indices


def top_k_rows(scores, k: int, exclude=None, n_rows: int | None = None, row_block: int | None = None) -> TopK:
    """Top-k columns of each score row, with per-row ``exclude`` lists never ranked.

    ``scores`` is a ``[n_rows, n_items]`` array, or ``score_rows(row_indices) -> [b, n_items]``
    (then give ``n_rows``) so large catalogues are scored block by block. A row is a user, a
    request, or anything else that ranks the whole catalogue. Ties: lower item index first.
    Rows with fewer than k candidates are padded with item -1 / score -inf.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    if callable(scores):
        if n_rows is None:
            raise ValueError("give n_rows when scores is a function of row indices")
        score_rows = scores
    else:
        arr = np.asarray(scores)
        if arr.ndim != 2:
            raise ValueError(f"scores must be 2-D (n_rows, n_items); got shape {arr.shape}")
        n_rows = arr.shape[0]
        score_rows = arr.__getitem__
    ex = as_row_lists(exclude, n_rows, "exclude") if exclude is not None else None
    out_items = np.full((n_rows, k), -1, dtype=np.int64)
    out_scores = np.full((n_rows, k), -np.inf, dtype=np.float64)
    start, block = 0, row_block
    while start < n_rows:
        rows = np.arange(start, min(n_rows, start + (block or n_rows)), dtype=np.int64)
        s = np.asarray(score_rows(rows), dtype=np.float64)
        if s.ndim != 2 or s.shape[0] != rows.size:
            raise ValueError(f"score rows for {rows.size} rows have shape {s.shape}")
        if block is None:  # about 2M cells per block
            block = max(1, _FULL_RANKING_PAIRS // max(1, s.shape[1]))
            rows, s = rows[:block], s[:block]
        s = np.maximum(s, _LOWEST)  # a new array: never write into the caller's scores
        if ex is not None:
            r, cols = _excluded_cells(ex[0], ex[1], rows)
            keep = cols < s.shape[1]
            s[r[keep], cols[keep]] = -np.inf
        items, top = _select_top_k(s, k)
        items = np.where(np.isneginf(top), -1, items)
        out_items[rows, : items.shape[1]] = items
        out_scores[rows, : top.shape[1]] = top
        start = int(rows[-1]) + 1
    return TopK(users=np.arange(n_rows, dtype=np.int64), items=out_items, scores=out_scores)


def _hits(top_items: np.ndarray, rows: np.ndarray, indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """hits[j, r]: whether the item at rank r + 1 of row ``rows[j]`` is one of its relevant items."""
    width = np.int64(max(int(indices.max()) if indices.size else 0, int(top_items.max(initial=0))) + 1)
    lengths = np.diff(indptr)
    keys = np.unique(np.repeat(np.arange(lengths.size, dtype=np.int64), lengths) * width + indices)
    top_keys = rows[:, None] * width + top_items
    pos = np.minimum(np.searchsorted(keys, top_keys), max(keys.size - 1, 0))
    return (top_items >= 0) & (keys[pos] == top_keys) if keys.size else np.zeros(top_items.shape, bool)


def evaluate_rows(scores, relevant, exclude=None, ks=(10,), n_rows: int | None = None,
                  row_block: int | None = None, per_row: bool = False) -> dict:
    """Full-catalogue ranking protocol for rows of scores with their relevant items.

    ``relevant`` and ``exclude`` give per-row item indices (a CSR, ``(indptr, indices)`` or a list
    of arrays). Excluded items are never ranked; a relevant item that is also excluded counts in
    the denominators but can never be hit (as in Recommenders). Rows with no relevant item are
    left out and not counted. Returns ``hr@k``, ``recall@k``, ``precision@k``, ``ndcg@k``,
    ``map@k`` for every k in ``ks``, ``mrr`` (MRR@max k) and ``n_rows``; with ``per_row`` also the
    kept rows' indices and their per-row values under ``"per_row"``.
    """
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive; got {ks}")
    top = top_k_rows(scores, ks[-1], exclude, n_rows, row_block)
    n = top.items.shape[0]
    indptr, indices = as_row_lists(relevant, n)
    n_relevant = np.diff(indptr)
    hits = _hits(top.items, np.arange(n, dtype=np.int64), indptr, indices)
    kept = np.flatnonzero(n_relevant > 0)
    hits, n_rel = hits[kept], n_relevant[kept]
    out, rows = {}, {}
    for k in ks:
        h = hits[:, :k]
        for name, fn in (("hr", M.hit_ratio_at_k), ("recall", M.recall_at_k), ("precision", M.precision_at_k),
                         ("ndcg", M.ndcg_at_k), ("map", M.map_at_k)):
            if per_row:
                rows[f"{name}@{k}"] = fn(h, n_rel, per_user=True)
            out[f"{name}@{k}"] = fn(h, n_rel) if kept.size else float("nan")
    out["mrr"] = M.mrr(hits, n_rel) if kept.size else float("nan")
    out["n_rows"] = int(kept.size)
    if per_row:
        rows["mrr"] = M.mrr(hits, n_rel, per_user=True)
        out["per_row"] = {"rows": kept, **rows}
    return out


# ---------------------------------------------------------------------------
# Protocols
# ---------------------------------------------------------------------------


def evaluate_sampled(
    score_fn: ScoreFn,
    test_users,
    test_items,
    test_negatives,
    ks=(10,),
    batch_size: int = _DEFAULT_BATCH,
    return_ranks: bool = False,
):
    """Sampled leave-one-out protocol (He et al. 2017): rank each positive among its own negatives.

    ``test_negatives`` is ``(n, n_neg)`` (99 in the paper). Returns
    ``{"hr@k", "ndcg@k"}`` for each k in ``ks``, ``"mrr"`` (1 / rank over all
    ``1 + n_neg`` candidates, not truncated at k), ``"n_users"`` (distinct test
    users) and ``"n_rows"``; means are over rows (one per user in leave-one-out).
    Ties count against the positive (:func:`~hncf.evaluation.metrics.rank_of_positive`).
    ``batch_size`` caps the pairs per ``score_fn`` call. With ``return_ranks``
    also returns the per-row 1-based ranks, aligned with the input rows.
    """
    users = _index_array(test_users, "test_users")
    items = _index_array(test_items, "test_items")
    neg = np.asarray(test_negatives)
    if items.shape != users.shape:
        raise ValueError(f"test_users {users.shape} and test_items {items.shape} must have equal length")
    if neg.ndim != 2 or neg.shape[0] != users.shape[0] or neg.shape[1] < 1:
        raise ValueError(
            f"test_negatives must be (n, n_neg) with n = {users.shape[0]} rows and n_neg >= 1; got {neg.shape}"
        )
    neg = neg.astype(np.int64, copy=False)
    clash = (neg == items[:, None]).any(axis=1)
    if clash.any():
        r = int(np.flatnonzero(clash)[0])
        raise ValueError(
            f"{int(clash.sum())} test row(s) list their positive among the negatives "
            f"(first: row {r}, user {int(users[r])}, item {int(items[r])})"
        )
    ks = tuple(int(k) for k in np.atleast_1d(ks))
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")

    cand = np.concatenate([items[:, None], neg], axis=1)  # positive in column 0
    width = cand.shape[1]
    rows_per_call = max(1, batch_size // width)
    ranks = np.empty(users.shape[0], dtype=np.int64)
    for start in range(0, users.shape[0], rows_per_call):
        c = cand[start : start + rows_per_call]
        s = _call(score_fn, np.repeat(users[start : start + c.shape[0]], width), c.ravel()).reshape(c.shape)
        ranks[start : start + c.shape[0]] = M.rank_of_positive(s[:, 0], s[:, 1:])

    out: dict = {}
    for k in ks:
        hr, ndcg = M.hr_ndcg_from_ranks(ranks, k)
        out[f"hr@{k}"] = hr
        out[f"ndcg@{k}"] = ndcg
    out["mrr"] = float(np.mean(1.0 / ranks)) if ranks.size else float("nan")
    out["n_users"] = int(np.unique(users).size)
    out["n_rows"] = int(users.shape[0])
    return (out, ranks) if return_ranks else out


def evaluate_full_ranking(
    score_fn: ScoreFn,
    train_users,
    train_items,
    test_df: pd.DataFrame,
    n_items: int,
    k: int = 10,
    user_block: int | None = None,
    exclude_train: bool = True,
    return_top_k: bool = False,
):
    """Full-ranking protocol of Microsoft Recommenders' NCF notebooks.

    For every user in ``test_df`` all ``n_items`` items are scored, the user's
    training items are excluded (``exclude_train``), and the top k are kept
    (ties: lower item index first). Relevant items are the user's distinct
    test items, including any that also occur in training (they can then never
    be hit, as in Recommenders). Returns ``{"map", "map@k", "ndcg@k",
    "precision@k", "recall@k", "hr@k", "mrr", "n_users"}`` where ``map`` is
    Recommenders' ``map`` (the notebooks' "MAP"), ``map@k`` its ``map_at_k``,
    ``mrr`` is MRR@k, and ``n_users`` counts the users present in test (each
    has at least one relevant item). With ``return_top_k`` also returns the
    :class:`TopK` lists (users sorted ascending).
    """
    for col in (USER, ITEM):
        if col not in test_df.columns:
            raise ValueError(f"test_df lacks column {col!r}; has {list(test_df.columns)}")
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    test_u = _index_array(test_df[USER].to_numpy(), "test_df.user")
    test_i = _index_array(test_df[ITEM].to_numpy(), "test_df.item")
    train_u = _index_array(train_users, "train_users")
    train_i = _index_array(train_items, "train_items")
    if train_u.shape != train_i.shape:
        raise ValueError(f"train_users {train_u.shape} and train_items {train_i.shape} must have equal length")
    for name, arr in (("test_df.item", test_i), ("train_items", train_i)):
        if arr.size and arr.max() >= n_items:
            raise ValueError(f"{name} has item index {int(arr.max())} >= n_items = {n_items}")

    # Distinct (user, item) keys, sorted: users come out grouped and ascending.
    keys = np.unique(test_u * np.int64(n_items) + test_i)
    users, n_relevant = np.unique(keys // n_items, return_counts=True)

    csr = _csr_from_pairs(train_u, train_i) if exclude_train and train_u.size else None
    top = top_k_items(score_fn, users, n_items, k, exclude_csr=csr, user_block=user_block)

    out = full_ranking_metrics(keys, users, n_relevant, top.items, n_items, k)
    return (out, top) if return_top_k else out


def full_ranking_metrics(keys, users, n_relevant, top_items, n_items: int, k: int) -> dict:
    """The full-ranking metrics of ``top_items`` (rows follow ``users``) against the relevant ``keys``.

    ``keys`` are the sorted distinct ``user * n_items + item`` of the relevant pairs; ``n_relevant``
    counts them per user. Shared by every full-ranking evaluator so their metrics cannot drift.
    """
    top_keys = users[:, None] * np.int64(n_items) + top_items
    pos = np.minimum(np.searchsorted(keys, top_keys), max(keys.size - 1, 0))
    hits = (top_items >= 0) & (keys[pos] == top_keys) if keys.size else np.zeros(top_items.shape, bool)
    return {
        "map": M.map_recommenders(hits, n_relevant),
        f"map@{k}": M.map_at_k(hits, n_relevant),
        f"ndcg@{k}": M.ndcg_at_k(hits, n_relevant),
        f"precision@{k}": M.precision_at_k(hits, n_relevant),
        f"recall@{k}": M.recall_at_k(hits, n_relevant),
        f"hr@{k}": M.hit_ratio_at_k(hits, n_relevant),
        "mrr": M.mrr(hits, n_relevant),
        "n_users": int(users.size),
    }


def evaluate_classification(
    score_fn: ScoreFn,
    users,
    items,
    labels,
    threshold: float = 0.5,
    batch_size: int = _DEFAULT_BATCH,
) -> dict:
    """Classification of labelled held-out pairs: precision, recall, accuracy, F1 at ``threshold``, AUC.

    Returns the keys of :func:`~hncf.evaluation.metrics.classification_report`
    (``precision, recall, accuracy, f1, auc, threshold, n``).
    """
    labels = np.asarray(labels)
    scores = _score_in_batches(score_fn, users, items, batch_size)
    if labels.shape != scores.shape:
        raise ValueError(f"labels {labels.shape} must match users/items {scores.shape}")
    return M.classification_report(labels, scores, threshold=threshold)


def evaluate_rating(
    predict_fn: ScoreFn,
    users,
    items,
    ratings,
    batch_size: int = _DEFAULT_BATCH,
) -> dict:
    """Rating prediction: ``{"rmse", "mae", "n"}`` of ``predict_fn(users, items)`` against ``ratings``."""
    ratings = np.asarray(ratings, dtype=np.float64)
    pred = _score_in_batches(predict_fn, users, items, batch_size)
    if ratings.shape != pred.shape:
        raise ValueError(f"ratings {ratings.shape} must match users/items {pred.shape}")
    return {"rmse": M.rmse(ratings, pred), "mae": M.mae(ratings, pred), "n": int(pred.size)}
