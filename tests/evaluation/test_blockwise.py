"""Blockwise full ranking: top-k against NumPy argsort, metrics against evaluate_full_ranking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hncf.evaluation.blockwise import (
    csr_rows,
    evaluate_full_ranking_blockwise,
    forward_pass_scorer,
    matrix_product_scorer,
    top_k_blockwise,
)
from hncf.evaluation.protocols import evaluate_full_ranking
from hncf.models.ncf import build_gmf, build_mf, build_neumf
from hncf.training import make_score_fn


def _argsort_top_k(scores, exclude_mask, k):
    s = np.where(exclude_mask, -np.inf, scores)
    # Stable sort on -score: ties go to the lower item index, as the protocols' rule.
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(s, order, axis=1)
    return np.where(np.isneginf(top), -1, order), top


@pytest.mark.parametrize("block_users", [1, 7, 64])
def test_top_k_matches_numpy_argsort_on_random_scores(block_users):
    rng = np.random.default_rng(block_users)
    n_users, n_items, k = 30, 50, 10
    scores = rng.normal(size=(n_users, n_items)).astype(np.float32)
    scores[:, 10:20] = np.round(scores[:, 10:20])  # ties
    mask = rng.random((n_users, n_items)) < 0.3
    mask[3, :45] = True  # a user with fewer than k candidates
    lists = [np.flatnonzero(r) for r in mask]
    users = rng.permutation(n_users)
    top = top_k_blockwise(lambda u: scores[u.numpy()],
                          users, n_items, k, exclude=lists, block_users=block_users)
    items, vals = _argsort_top_k(scores.astype(np.float64)[users], mask[users], k)
    np.testing.assert_array_equal(top.items, items)
    np.testing.assert_allclose(top.scores, vals)
    assert (top.items[list(users).index(3)] == -1).sum() == k - (~mask[3]).sum() > 0


def _case(seed=0, n_users=20, n_items=35):
    rng = np.random.default_rng(seed)
    train_u = rng.integers(0, n_users, 300)
    train_i = rng.integers(0, n_items, 300)
    test_u = rng.integers(0, n_users, 60)
    test_i = rng.integers(0, n_items, 60)
    return train_u, train_i, test_u, test_i, n_users, n_items


@pytest.mark.parametrize("builder", [build_neumf, build_mf, build_gmf])
def test_metrics_equal_evaluate_full_ranking_for_ncf_models(builder):
    train_u, train_i, test_u, test_i, nu, ni = _case()
    model = builder(nu, ni, seed=0)
    # Spread the scores (a fresh model's are nearly all 0.5) so the ranking is informative.
    for w in model.weights:
        w.assign(np.random.default_rng(1).normal(0, 0.5, w.shape).astype("float32"))
    expected = evaluate_full_ranking(make_score_fn(model), train_u, train_i,
                                     pd.DataFrame({"user": test_u, "item": test_i}), ni, k=5)
    got = evaluate_full_ranking_blockwise(model, test_u, test_i, ni, k=5, exclude=csr_rows(train_u, train_i, nu),
                                          block_users=3)
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == pytest.approx(expected[key], abs=1e-12), key


def test_matrix_product_equals_the_forward_pass():
    for builder in (build_mf, build_gmf):
        model = builder(12, 9, seed=3)
        for w in model.weights:
            w.assign(np.random.default_rng(2).normal(0, 0.5, w.shape).astype("float32"))
        users = np.arange(12)
        fast = matrix_product_scorer(model)(users).numpy()
        slow = forward_pass_scorer(model, 9)(users).numpy()
        np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-6)
    assert matrix_product_scorer(build_neumf(5, 5)) is None


def test_memory_bound_sets_the_block_and_refuses_too_small_a_budget():
    model = build_mf(10, 1000)
    calls = []

    def scorer(users):
        calls.append(int(users.shape[0]))
        return np.zeros((users.shape[0], 1000), np.float32)

    top_k_blockwise(scorer, np.arange(10), 1000, 3, max_bytes=1000 * 20 * 4)
    assert set(calls) == {4}  # 80,000 bytes / (1000 items x 20 bytes), every block padded to 4
    with pytest.raises(ValueError, match="below one user's scores"):
        top_k_blockwise(model, np.arange(10), 1000, 3, max_bytes=100)
    with pytest.raises(ValueError, match="exclude has 2 user rows"):
        top_k_blockwise(model, np.arange(10), 1000, 3, exclude=[[0], [1]])
