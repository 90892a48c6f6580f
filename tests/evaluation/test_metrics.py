"""Metric values against hand-computed rankings and brute-force references."""

import numpy as np
import pytest

from hncf.evaluation import metrics as M

RANKING = [
    M.hit_ratio_at_k,
    M.precision_at_k,
    M.recall_at_k,
    M.ndcg_at_k,
    M.map_recommenders,
    M.map_at_k,
    M.mrr,
]


def log2_disc(rank):
    return 1.0 / np.log2(rank + 1)


@pytest.fixture
def hand_case():
    # K = 5. A: hits at ranks 1 and 3 of 3 relevant; B: no hit of 2 relevant;
    # C: hit at rank 2 of 1 relevant; D: nothing relevant (left out of every mean).
    hits = np.array(
        [
            [1, 0, 1, 0, 0],
            [0, 0, 0, 0, 0],
            [0, 1, 0, 0, 0],
            [0, 0, 0, 0, 0],
        ],
        dtype=bool,
    )
    n_relevant = np.array([3, 2, 1, 0])
    return hits, n_relevant


def test_hand_case_values(hand_case):
    hits, n_rel = hand_case
    assert M.hit_ratio_at_k(hits, n_rel) == pytest.approx(2 / 3)
    assert M.precision_at_k(hits, n_rel) == pytest.approx((2 / 5 + 0 + 1 / 5) / 3)
    assert M.recall_at_k(hits, n_rel) == pytest.approx((2 / 3 + 0 + 1) / 3)
    ndcg_a = (log2_disc(1) + log2_disc(3)) / (log2_disc(1) + log2_disc(2) + log2_disc(3))
    ndcg_c = log2_disc(2) / log2_disc(1)
    assert M.ndcg_at_k(hits, n_rel) == pytest.approx((ndcg_a + 0 + ndcg_c) / 3)
    ap_a = (1 / 1 + 2 / 3) / 3
    ap_c = (1 / 2) / 1
    assert M.map_recommenders(hits, n_rel) == pytest.approx((ap_a + 0 + ap_c) / 3)
    # Every user has at most K relevant items, so the two MAPs agree here.
    assert M.map_at_k(hits, n_rel) == pytest.approx((ap_a + 0 + ap_c) / 3)
    assert M.mrr(hits, n_rel) == pytest.approx((1 + 0 + 1 / 2) / 3)


def test_rank_one_has_ndcg_one():
    assert M.ndcg_at_k(np.array([[1, 0, 0]], bool), [1]) == 1.0
    assert M.ndcg_at_k(np.array([[0, 1, 0]], bool), [1]) == pytest.approx(1 / np.log2(3))


def test_per_user_values_mark_left_out_users_nan(hand_case):
    hits, n_rel = hand_case
    per = M.recall_at_k(hits, n_rel, per_user=True)
    np.testing.assert_allclose(per[:3], [2 / 3, 0, 1])
    assert np.isnan(per[3])


def test_no_user_with_relevant_items_gives_nan():
    assert np.isnan(M.ndcg_at_k(np.zeros((2, 3), bool), [0, 0]))


@pytest.mark.parametrize("metric", RANKING)
def test_perfect_ranking_scores_one(metric):
    k = 10
    hits = np.ones((4, k), bool)
    assert metric(hits, np.full(4, k)) == pytest.approx(1.0)


@pytest.mark.parametrize("metric", [m for m in RANKING if m is not M.precision_at_k])
def test_perfect_ranking_fewer_relevant_than_k(metric):
    n_rel = np.array([1, 3, 7])
    hits = np.arange(10)[None, :] < n_rel[:, None]
    assert metric(hits, n_rel) == pytest.approx(1.0)


def test_precision_ceiling_is_n_relevant_over_k():
    n_rel = np.array([1, 3, 7])
    hits = np.arange(10)[None, :] < n_rel[:, None]
    assert M.precision_at_k(hits, n_rel) == pytest.approx(np.mean(n_rel / 10))


@pytest.mark.parametrize("metric", RANKING)
def test_no_hit_scores_zero(metric):
    assert metric(np.zeros((3, 10), bool), [1, 5, 20]) == 0.0


def test_map_vs_map_at_k():
    # 20 relevant items, K = 10, hits at ranks 1 and 2: the precision sum is 1 + 1.
    hits = np.zeros((1, 10), bool)
    hits[0, :2] = True
    assert M.map_recommenders(hits, [20]) == pytest.approx(2 / 20)
    assert M.map_at_k(hits, [20]) == pytest.approx(2 / 10)
    # The ratio is n_relevant / K per user, so map@k = 2 x map here.
    assert M.map_at_k(hits, [20]) == pytest.approx(2 * M.map_recommenders(hits, [20]))


def test_ndcg_natural_log_as_in_recommenders_gives_the_same_value():
    rng = np.random.default_rng(3)
    k = 10
    hits = rng.random((200, k)) < 0.3
    n_rel = hits.sum(1) + rng.integers(0, 8, 200)
    ranks = np.arange(1, k + 1)
    # Recommenders' default discfun_type="loge": 1 / ln(1 + rank) in DCG and IDCG alike.
    dcg_ln = (hits / np.log(1 + ranks)).sum(1)
    idcg_ln = np.array([(1 / np.log(1 + ranks[: min(n, k)])).sum() for n in n_rel])
    valid = n_rel > 0
    expected = np.mean(dcg_ln[valid] / idcg_ln[valid])
    assert M.ndcg_at_k(hits, n_rel) == pytest.approx(expected, abs=1e-12)


def test_shape_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        M.ndcg_at_k(np.zeros((3, 5), bool), [1, 2])
    with pytest.raises(ValueError, match="2-D"):
        M.ndcg_at_k(np.zeros(5, bool), [1])
    with pytest.raises(ValueError, match="hits cannot exceed"):
        M.recall_at_k(np.ones((1, 3), bool), [2])


# --- sampled protocol helpers ----------------------------------------------


def test_rank_of_positive_ties_count_against_the_positive():
    pos = np.array([0.5, 0.9, 0.1])
    neg = np.array(
        [
            [0.5, 0.2, 0.7],  # one tie + one higher -> rank 3
            [0.1, 0.2, 0.3],  # best -> rank 1
            [0.1, 0.1, 0.1],  # all tied -> last
        ]
    )
    np.testing.assert_array_equal(M.rank_of_positive(pos, neg), [3, 1, 4])


def _he_evaluate_py(neg_items, pos_items, neg_scores, pos_scores, k):
    """eval_one_rating of He et al.'s evaluate.py, line for line, as it runs under Python 3."""
    import heapq
    import math

    hits, ndcgs = [], []
    for items, gt, scores, pos in zip(neg_items.tolist(), pos_items.tolist(), neg_scores, pos_scores):
        items = items + [gt]
        predictions = list(scores) + [pos]
        map_item_score = {item: predictions[i] for i, item in enumerate(items)}
        ranklist = heapq.nlargest(k, map_item_score, key=map_item_score.get)
        hits.append(int(gt in ranklist))
        ndcgs.append(math.log(2) / math.log(ranklist.index(gt) + 2) if gt in ranklist else 0.0)
    return float(np.mean(hits)), float(np.mean(ndcgs))


def test_ties_rank_as_the_original_ncf_evaluation_does_under_python_3():
    # Scores on a coarse grid tie often; the original's dict keeps insertion order in Python 3.7+,
    # so the positive, appended last, loses every tie, as rank_of_positive counts it.
    rng = np.random.default_rng(0)
    n, n_neg = 400, 99
    neg_items = np.stack([rng.choice(np.arange(1, 3000), n_neg, replace=False) for _ in range(n)])
    pos_items = np.zeros(n, np.int64)  # an id no negative has
    neg = rng.integers(0, 8, size=(n, n_neg)) / 8.0
    pos = rng.integers(0, 8, size=n) / 8.0
    for k in (1, 5, 10):
        ours = M.hr_ndcg_from_ranks(M.rank_of_positive(pos, neg), k)
        assert ours == pytest.approx(_he_evaluate_py(neg_items, pos_items, neg, pos, k), abs=1e-12)
    # A constant model scores 0 under both (under Python 2 the ties would fall by dict slot order instead).
    flat = np.full((n, n_neg), 0.5)
    assert _he_evaluate_py(neg_items, pos_items, flat, np.full(n, 0.5), 10) == (0.0, 0.0)


def test_constant_scores_never_count_as_hits():
    ranks = M.rank_of_positive(np.zeros(5), np.zeros((5, 99)))
    np.testing.assert_array_equal(ranks, 100)
    assert M.hr_ndcg_from_ranks(ranks, 10) == (0.0, 0.0)


def test_rank_of_positive_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        M.rank_of_positive([np.nan], [[0.1, 0.2]])


def test_hr_ndcg_from_ranks():
    hr, ndcg = M.hr_ndcg_from_ranks(np.array([1, 2, 10, 11]), 10)
    assert hr == pytest.approx(3 / 4)
    assert ndcg == pytest.approx((1 + 1 / np.log2(3) + 1 / np.log2(11)) / 4)


# --- classification and rating ---------------------------------------------


def brute_force_auc(labels, scores):
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / (pos.size * neg.size)


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_pairwise_count_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = 300
    labels = (rng.random(n) < 0.3).astype(int)
    # Coarse rounding makes many ties, within and across classes.
    scores = np.round(rng.random(n) + 0.3 * labels, 1)
    assert M.auc(labels, scores) == pytest.approx(brute_force_auc(labels, scores), abs=1e-12)


def test_auc_limits_and_errors():
    assert M.auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert M.auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert M.auc([0, 1], [0.5, 0.5]) == 0.5
    with pytest.raises(ValueError, match="both classes"):
        M.auc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="0/1"):
        M.auc([0, 2], [0.1, 0.2])


def test_classification_report_hand_case():
    labels = np.array([1, 1, 0, 0, 1])
    scores = np.array([0.9, 0.4, 0.6, 0.1, 0.5])
    r = M.classification_report(labels, scores, threshold=0.5)
    # Predicted positive (>= 0.5): rows 0, 2, 4 -> tp = 2, fp = 1, fn = 1, tn = 1.
    assert r["precision"] == pytest.approx(2 / 3)
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["accuracy"] == pytest.approx(3 / 5)
    assert r["f1"] == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))
    # Positive-negative pairs won: 0.9 beats both, 0.4 and 0.5 beat 0.1 -> 4 of 6.
    assert r["auc"] == pytest.approx(4 / 6)
    assert r["n"] == 5


def test_classification_report_degenerate():
    r = M.classification_report([0, 0], [0.1, 0.2])
    assert r["precision"] == 0.0 and r["recall"] == 0.0 and r["accuracy"] == 1.0
    assert np.isnan(r["auc"])


def test_rmse_mae():
    t = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.5, 2.0, 2.0, 6.0])
    assert M.rmse(t, p) == pytest.approx(np.sqrt((0.25 + 0 + 1 + 4) / 4))
    assert M.mae(t, p) == pytest.approx((0.5 + 0 + 1 + 2) / 4)
    assert M.rmse(t, t) == 0.0
    with pytest.raises(ValueError, match=r"\(4,\).*\(3,\)"):
        M.rmse(t, p[:3])
