"""Vectorised NumPy metrics for ranking, classification and rating prediction.

Ranking metrics take a top-K *hit matrix* and the number of relevant items per
user:

- ``hits``: boolean array ``(n_users, K)``; ``hits[u, r]`` is True when the item
  at rank ``r + 1`` of user ``u``'s list is relevant. Unfilled list positions
  (a user with fewer than K candidate items) are simply False, and the metrics
  still divide by K where they divide by K, as Microsoft Recommenders does.
- ``n_relevant``: int array ``(n_users,)``, the user's number of relevant items,
  including relevant items that did not make the list.

Each ranking metric returns the mean over users that have at least one relevant
item; users with ``n_relevant == 0`` are left out because every metric here is
undefined (or trivially 0) for them. The protocols in
:mod:`hncf.evaluation.protocols` only pass users present in the test data, so in
practice all users count, matching Recommenders' ``merge_ranking_true_pred``.
Pass ``per_user=True`` to get the per-user values instead (NaN for left-out
users). With no user left to average, the mean is NaN.

Two MAP variants are kept apart on purpose:

- :func:`map_recommenders` is Microsoft Recommenders' ``map`` (the "MAP" of the
  NCF notebooks and of the anchor table): the sum of precision at each hit rank
  divided by the user's number of relevant items.
- :func:`map_at_k` is Recommenders' / Spark's ``map_at_k``: the same sum divided
  by ``min(n_relevant, K)``, so it is larger (about twice as large on ML-100K).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "hit_ratio_at_k",
    "precision_at_k",
    "recall_at_k",
    "ndcg_at_k",
    "map_recommenders",
    "map_at_k",
    "mrr",
    "rank_of_positive",
    "hr_ndcg_from_ranks",
    "auc",
    "classification_report",
    "rmse",
    "mae",
]


# ---------------------------------------------------------------------------
# Ranking metrics on a hit matrix
# ---------------------------------------------------------------------------


def _check_hits(hits, n_relevant) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    hits = np.asarray(hits)
    n_relevant = np.asarray(n_relevant)
    if hits.ndim != 2:
        raise ValueError(f"hits must be 2-D (n_users, K); got shape {hits.shape}")
    if n_relevant.shape != (hits.shape[0],):
        raise ValueError(
            f"n_relevant must have shape ({hits.shape[0]},) to match hits {hits.shape}; "
            f"got {n_relevant.shape}"
        )
    if hits.shape[1] == 0:
        raise ValueError(f"hits has K = 0 columns (shape {hits.shape}); K must be >= 1")
    hits = hits.astype(bool, copy=False)
    n_relevant = n_relevant.astype(np.int64, copy=False)
    if (n_relevant < 0).any():
        raise ValueError("n_relevant has negative entries")
    n_hits = hits.sum(axis=1)
    bad = n_hits > n_relevant
    if bad.any():
        u = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"user row {u} has {int(n_hits[u])} hits but n_relevant = {int(n_relevant[u])}; "
            "hits cannot exceed the number of relevant items"
        )
    return hits, n_relevant, n_relevant > 0


def _reduce(per_user: np.ndarray, valid: np.ndarray, keep: bool):
    if keep:
        out = per_user.astype(np.float64, copy=True)
        out[~valid] = np.nan
        return out
    if not valid.any():
        return float("nan")
    return float(per_user[valid].mean())


def _discounts(k: int) -> np.ndarray:
    # 1 / log2(rank + 1) for ranks 1..k, so rank 1 has weight 1.0.
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def hit_ratio_at_k(hits, n_relevant, per_user: bool = False):
    """HR@K: share of users with at least one relevant item in their top K."""
    hits, n_rel, valid = _check_hits(hits, n_relevant)
    return _reduce(hits.any(axis=1).astype(np.float64), valid, per_user)


def precision_at_k(hits, n_relevant, per_user: bool = False):
    """Precision@K: hits in the top K divided by K (K = ``hits.shape[1]``), as in Recommenders."""
    hits, n_rel, valid = _check_hits(hits, n_relevant)
    return _reduce(hits.sum(axis=1) / hits.shape[1], valid, per_user)


def recall_at_k(hits, n_relevant, per_user: bool = False):
    """Recall@K: hits in the top K divided by the user's number of relevant items."""
    hits, n_rel, valid = _check_hits(hits, n_relevant)
    return _reduce(hits.sum(axis=1) / np.maximum(n_rel, 1), valid, per_user)


def ndcg_at_k(hits, n_relevant, per_user: bool = False):
    """NDCG@K with binary gain and a log2 discount (a hit at rank 1 scores 1.0).

    The ideal DCG puts ``min(n_relevant, K)`` hits at the top. Recommenders uses
    the natural log for both DCG and ideal DCG; with binary gain the base change
    factor cancels in the ratio, so the values are identical.
    """
    hits, n_rel, valid = _check_hits(hits, n_relevant)
    k = hits.shape[1]
    disc = _discounts(k)
    dcg = hits @ disc
    ideal_cum = np.concatenate([[0.0], np.cumsum(disc)])
    idcg = ideal_cum[np.minimum(n_rel, k)]
    return _reduce(dcg / np.where(idcg > 0, idcg, 1.0), valid, per_user)


def _precision_sum_at_hits(hits: np.ndarray) -> np.ndarray:
    # Sum over hit ranks r of (#hits in ranks 1..r) / r: the numerator shared by
    # both MAP variants.
    ranks = np.arange(1, hits.shape[1] + 1, dtype=np.float64)
    prec = np.cumsum(hits, axis=1) / ranks
    return (prec * hits).sum(axis=1)


def map_recommenders(hits, n_relevant, per_user: bool = False):
    """Recommenders' ``map`` (the "MAP" in the NCF notebooks): precision summed over hit ranks / n_relevant.

    Not to be confused with :func:`map_at_k`, which divides by ``min(n_relevant, K)``.
    """
    hits, n_rel, valid = _check_hits(hits, n_relevant)
    return _reduce(_precision_sum_at_hits(hits) / np.maximum(n_rel, 1), valid, per_user)


def map_at_k(hits, n_relevant, per_user: bool = False):
    """MAP@K (Recommenders' / Spark's ``map_at_k``): precision summed over hit ranks / min(n_relevant, K).

    Equals :func:`map_recommenders` for users with at most K relevant items and is
    larger otherwise (``n_relevant / K`` times larger per user).
    """
    hits, n_rel, valid = _check_hits(hits, n_relevant)
    denom = np.maximum(np.minimum(n_rel, hits.shape[1]), 1)
    return _reduce(_precision_sum_at_hits(hits) / denom, valid, per_user)


def mrr(hits, n_relevant, per_user: bool = False):
    """Mean reciprocal rank of the first hit within the top K (0 when there is none): MRR@K."""
    hits, n_rel, valid = _check_hits(hits, n_relevant)
    any_hit = hits.any(axis=1)
    first = np.argmax(hits, axis=1) + 1
    return _reduce(np.where(any_hit, 1.0 / first, 0.0), valid, per_user)


# ---------------------------------------------------------------------------
# Sampled protocol (one positive against sampled negatives)
# ---------------------------------------------------------------------------


def rank_of_positive(pos_scores, neg_scores) -> np.ndarray:
    """1-based rank of each row's positive among its negatives; ties count against the positive.

    ``rank = 1 + #(negatives with score >= positive score)``, so a model that
    gives every item the same score ranks each positive last, never first.
    NaN scores raise, since they would compare False and look like a perfect rank.

    He et al.'s ``evaluate.py`` (neural_collaborative_filtering, written for
    Python 2) breaks ties differently. It appends the positive after the
    negatives, stores the scores in a dict keyed by item id and keeps
    ``heapq.nlargest(K, scores, key=scores.get)``, which puts the item met
    first in the dict's iteration order first among ties. Under Python 2 a dict
    of ints iterates in hash-table slot order (item id modulo the table size,
    512 slots for 100 items, then probing), which does not depend on which
    item is the positive. So a tied positive reaches the top K about K/100 of
    the time: on the authors' own ML-1M test file (``ml-1m.test.negative``), a
    model that scores every item the same gets HR@10 0.1275 and NDCG@10 0.0605
    under Python 2.7.18, and 0 here (``benchmarks/ncf_original_ties.py``,
    results in ``benchmarks/results/ncf_original_ties_py2.json``). Under
    Python 3.7+ dicts keep insertion order, the positive comes last and the
    same code agrees with this function (tested), except where the positive is
    also listed among its own negatives (156 rows of that file; hncf's
    negatives never hold it), which keeps its earlier place: HR@10 0.0028
    (``ncf_original_ties_py3.json``).
    Scores without ties rank the same either way.
    """
    pos = np.asarray(pos_scores, dtype=np.float64)
    neg = np.asarray(neg_scores, dtype=np.float64)
    if pos.ndim != 1 or neg.ndim != 2 or neg.shape[0] != pos.shape[0]:
        raise ValueError(
            f"expected pos_scores (n,) and neg_scores (n, n_neg); got {pos.shape} and {neg.shape}"
        )
    n_nan = int(np.isnan(pos).sum() + np.isnan(neg).sum())
    if n_nan:
        raise ValueError(f"{n_nan} NaN score(s); ranks are undefined")
    return 1 + (neg >= pos[:, None]).sum(axis=1).astype(np.int64)


def hr_ndcg_from_ranks(ranks, k: int) -> tuple[float, float]:
    """(HR@k, NDCG@k) means from 1-based ranks of a single relevant item per row.

    With one relevant item the ideal DCG is 1, so NDCG is ``1 / log2(rank + 1)``
    for ranks within k and 0 beyond.
    """
    ranks = np.asarray(ranks)
    if ranks.ndim != 1:
        raise ValueError(f"ranks must be 1-D; got shape {ranks.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    if ranks.size == 0:
        return float("nan"), float("nan")
    if (ranks < 1).any():
        raise ValueError("ranks are 1-based; got a rank < 1")
    inside = ranks <= k
    ndcg = np.where(inside, 1.0 / np.log2(ranks.astype(np.float64) + 1.0), 0.0)
    return float(inside.mean()), float(ndcg.mean())


# ---------------------------------------------------------------------------
# Classification and rating prediction
# ---------------------------------------------------------------------------


def _paired(a, b, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must be 1-D of equal length; got {a.shape} and {b.shape}")
    return a, b


def _binary_labels(labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.dtype == bool:
        return labels
    uniq = np.unique(labels)
    if not np.isin(uniq, [0, 1]).all():
        raise ValueError(f"labels must be 0/1 or boolean; got values {uniq[:5].tolist()}")
    return labels.astype(bool)


def auc(labels, scores) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula; tied scores get their average rank.

    Tied positive/negative pairs therefore count one half, as in scikit-learn.
    Raises when only one class is present, since AUC is then undefined.
    """
    labels, scores = _paired(labels, scores, ("labels", "scores"))
    y = _binary_labels(labels)
    s = np.asarray(scores, dtype=np.float64)
    if np.isnan(s).any():
        raise ValueError(f"{int(np.isnan(s).sum())} NaN score(s); AUC is undefined")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"AUC needs both classes; got {n_pos} positive and {n_neg} negative label(s)")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    # Average 1-based rank of each distinct value: last position of its run minus half the run.
    ends = np.cumsum(counts)
    avg_rank = ends - (counts - 1) / 2.0
    rank_sum_pos = avg_rank[inverse.ravel()][y].sum()
    return float((rank_sum_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def classification_report(labels, scores, threshold: float = 0.5) -> dict:
    """Precision, recall, accuracy, F1 at ``score >= threshold``, plus threshold-free AUC.

    Precision is 0 when nothing is predicted positive and recall is 0 when there
    are no positives (scikit-learn's ``zero_division=0``). AUC is NaN when only one
    class is present, so the other numbers are still reported.
    """
    labels, scores = _paired(labels, scores, ("labels", "scores"))
    y = _binary_labels(labels)
    s = np.asarray(scores, dtype=np.float64)
    pred = s >= threshold
    tp = int((pred & y).sum())
    fp = int((pred & ~y).sum())
    fn = int((~pred & y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = float((pred == y).mean()) if y.size else float("nan")
    both_classes = 0 < y.sum() < y.size
    return {
        "precision": float(precision),
        "recall": float(recall),
        "accuracy": accuracy,
        "f1": float(f1),
        "auc": auc(y, s) if both_classes else float("nan"),
        "threshold": float(threshold),
        "n": int(y.size),
    }


def rmse(y_true, y_pred) -> float:
    """Root mean squared error."""
    t, p = _paired(y_true, y_pred, ("y_true", "y_pred"))
    if t.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean((t.astype(np.float64) - p.astype(np.float64)) ** 2)))


def mae(y_true, y_pred) -> float:
    """Mean absolute error."""
    t, p = _paired(y_true, y_pred, ("y_true", "y_pred"))
    if t.size == 0:
        return float("nan")
    return float(np.mean(np.abs(t.astype(np.float64) - p.astype(np.float64))))
