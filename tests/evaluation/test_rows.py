"""Full-catalogue ranking of score rows: hand-computed cases, agreement with the user x item protocol."""

import numpy as np
import pandas as pd
import pytest

from hncf.evaluation import evaluate_full_ranking, evaluate_rows, top_k_rows


def test_hand_computed_case():
    # Row 0 ranks items 3, 1, 0, 2; relevant {1, 2}: a hit at rank 2 of the top 2.
    # Row 1 ranks items 0, 2, 3 (1 excluded); relevant {3}: a hit at rank 3, none in the top 2.
    # Row 2 has no relevant item and is left out.
    scores = np.array([[0.2, 0.5, 0.1, 0.9], [0.9, 0.8, 0.4, 0.3], [1, 2, 3, 4]], dtype=float)
    out = evaluate_rows(scores, [[1, 2], [3], []], exclude=[[], [1], []], ks=(2, 3))
    assert out["n_rows"] == 2
    assert out["hr@2"] == pytest.approx(0.5)
    assert out["recall@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert out["precision@2"] == pytest.approx((1 / 2 + 0) / 2)
    ndcg0 = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert out["ndcg@2"] == pytest.approx(ndcg0 / 2)
    assert out["hr@3"] == pytest.approx(1.0)
    assert out["ndcg@3"] == pytest.approx((ndcg0 + 1 / np.log2(4)) / 2)
    assert out["mrr"] == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_limits_perfect_and_no_hit():
    scores = np.eye(5)
    perfect = evaluate_rows(scores, [[i] for i in range(5)], ks=(1,))
    assert perfect["hr@1"] == perfect["ndcg@1"] == perfect["mrr"] == 1.0
    none = evaluate_rows(scores, [[(i + 1) % 5] for i in range(5)], exclude=[[(i + 1) % 5] for i in range(5)],
                         ks=(4,))
    assert none["hr@4"] == none["ndcg@4"] == none["recall@4"] == 0.0


def test_top_k_matches_argsort_and_ignores_the_block_size():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, size=(23, 17)).astype(float)  # many ties: lower index first
    exclude = [rng.choice(17, size=rng.integers(0, 5), replace=False) for _ in range(23)]
    top = top_k_rows(scores, 5, exclude)
    for r in range(23):
        s = scores[r].copy()
        s[exclude[r]] = -np.inf
        expected = np.lexsort((np.arange(17), -s))[:5]
        np.testing.assert_array_equal(top.items[r], expected)
    blocked = top_k_rows(lambda rows: scores[rows], 5, exclude, n_rows=23, row_block=4)
    np.testing.assert_array_equal(blocked.items, top.items)


def test_permuting_rows_permutes_per_row_results():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(12, 30))
    relevant = [rng.choice(30, size=3, replace=False) for _ in range(12)]
    base = evaluate_rows(scores, relevant, ks=(5,), per_row=True)
    perm = rng.permutation(12)
    shuffled = evaluate_rows(scores[perm], [relevant[i] for i in perm], ks=(5,), per_row=True)
    np.testing.assert_allclose(shuffled["per_row"]["ndcg@5"], base["per_row"]["ndcg@5"][perm])
    assert shuffled["ndcg@5"] == pytest.approx(base["ndcg@5"])


def test_user_by_item_full_ranking_is_one_case_of_score_rows():
    rng = np.random.default_rng(2)
    n_users, n_items = 15, 40
    w = rng.normal(size=(n_users, n_items))
    train = rng.integers(0, n_items, size=(n_users, 6))
    test = rng.integers(0, n_items, size=(n_users, 3))
    test_df = pd.DataFrame({"user": np.repeat(np.arange(n_users), 3), "item": test.ravel()})
    full = evaluate_full_ranking(lambda u, i: w[u, i], np.repeat(np.arange(n_users), 6), train.ravel(), test_df,
                                 n_items, k=10)
    rows = evaluate_rows(w, list(test), exclude=list(train), ks=(10,))
    for m in ("ndcg@10", "precision@10", "recall@10", "hr@10", "map@10", "mrr"):
        assert rows[m] == pytest.approx(full[m]), m


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="relevant has 1 rows but there are 2 score rows"):
        evaluate_rows(np.zeros((2, 3)), [[0]])
    with pytest.raises(ValueError, match="give n_rows"):
        top_k_rows(lambda r: np.zeros((len(r), 3)), 2)
