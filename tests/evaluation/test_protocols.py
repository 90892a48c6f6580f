"""Protocols against slow references (pandas re-implementation of Microsoft Recommenders, argsort)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hncf.evaluation import (
    evaluate_classification,
    evaluate_full_ranking,
    evaluate_rating,
    evaluate_sampled,
    top_k_items,
)


def table_score_fn(S):
    """A score function reading a (n_users, n_items) score matrix, vectorised like a model."""

    def fn(users, items):
        return S[users, items]

    return fn


# --- a slow pandas reference of Recommenders' python_evaluation -------------
# Written from the logic of recommenders/evaluation/python_evaluation.py
# (merge_ranking_true_pred, get_top_k_items, map, map_at_k, ndcg_at_k,
# precision_at_k, recall_at_k), with relevancy_method="top_k".


def ref_get_top_k_items(df, k):
    top = (
        df.sort_values(["user", "prediction"], ascending=[True, False], kind="stable")
        .groupby("user", as_index=False)
        .head(k)
        .reset_index(drop=True)
    )
    top["rank"] = top.groupby("user", sort=False).cumcount() + 1
    return top


def ref_merge_ranking_true_pred(rating_true, rating_pred, k):
    common = set(rating_true["user"]) & set(rating_pred["user"])
    true_c = rating_true[rating_true["user"].isin(common)]
    pred_c = rating_pred[rating_pred["user"].isin(common)]
    df_hit = ref_get_top_k_items(pred_c, k)
    df_hit = pd.merge(df_hit, true_c, on=["user", "item"])[["user", "item", "rank"]]
    df_hit_count = pd.merge(
        df_hit.groupby("user").size().rename("hit").reset_index(),
        true_c.groupby("user").size().rename("actual").reset_index(),
        on="user",
    )
    return df_hit, df_hit_count, len(common)


def ref_metrics(rating_true, rating_pred, k):
    df_hit, df_hit_count, n_users = ref_merge_ranking_true_pred(rating_true, rating_pred, k)
    out = {
        "precision": (df_hit_count["hit"] / k).sum() / n_users,
        "recall": (df_hit_count["hit"] / df_hit_count["actual"]).sum() / n_users,
    }
    rr = df_hit.copy()
    rr["rr"] = (rr.groupby("user").cumcount() + 1) / rr["rank"]
    rr = pd.merge(rr.groupby("user")["rr"].sum().reset_index(), df_hit_count, on="user")
    out["map"] = (rr["rr"] / rr["actual"]).sum() / n_users
    out["map_at_k"] = (rr["rr"] / rr["actual"].clip(upper=k)).sum() / n_users

    # ndcg_at_k, binary relevance, natural-log discount (the library default).
    dcg = df_hit.merge(rating_pred, on=["user", "item"]).merge(
        rating_true, on=["user", "item"], how="outer", suffixes=("_left", None)
    )
    dcg["rel"] = 1
    dcg["dcg"] = dcg["rel"] / np.log(1 + dcg["rank"])
    idcg = dcg.sort_values(["user", "rating"], ascending=False)
    idcg["irank"] = idcg.groupby("user", sort=False)["rating"].rank("first", ascending=False)
    idcg["idcg"] = idcg["rel"] / np.log(1 + idcg["irank"])
    per_user = dcg.groupby("user", as_index=False, sort=False).agg({"dcg": "sum"})
    per_user = per_user.merge(
        idcg.groupby("user", sort=False).head(k).groupby("user", as_index=False, sort=False).agg({"idcg": "sum"}),
        on="user",
    )
    out["ndcg"] = (per_user["dcg"] / per_user["idcg"]).mean()
    return out, n_users


def random_split(seed, n_users=60, n_items=80, k=10):
    rng = np.random.default_rng(seed)
    cells = rng.random((n_users, n_items))
    train = cells < 0.2
    test = (cells > 0.85) | ((cells < 0.03) & (rng.random((n_users, n_items)) < 0.5))  # some overlap with train
    train[0, :-5] = True  # user 0 has only 5 candidate items, fewer than k
    test[0, 2] = True  # ... and a test item among its training items
    test[1, :] = False  # user 1: train only, never evaluated
    train[2, :] = False  # user 2: cold start, test only
    test[2, :3] = True
    tu, ti = np.nonzero(train)
    su, si = np.nonzero(test)
    test_df = pd.DataFrame(
        {"user": su, "item": si, "rating": rng.integers(1, 6, su.size).astype(float), "timestamp": 0}
    ).sample(frac=1.0, random_state=seed)
    S = rng.normal(size=(n_users, n_items))  # continuous: no score ties
    return tu, ti, test_df, S


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("k", [5, 10])
def test_full_ranking_matches_recommenders_reference(seed, k):
    n_users, n_items = 60, 80
    tu, ti, test_df, S = random_split(seed, n_users, n_items)
    ours = evaluate_full_ranking(table_score_fn(S), tu, ti, test_df, n_items, k=k, user_block=7)

    # Recommenders' notebook: score every (test user, item) pair, drop training pairs.
    test_users = np.unique(test_df["user"])
    uu, ii = np.meshgrid(test_users, np.arange(n_items), indexing="ij")
    pred = pd.DataFrame({"user": uu.ravel(), "item": ii.ravel(), "prediction": S[uu, ii].ravel()})
    train_pairs = pd.DataFrame({"user": tu, "item": ti, "seen": True})
    pred = pred.merge(train_pairs, on=["user", "item"], how="left")
    pred = pred[pred["seen"].isna()].drop(columns="seen")
    ref, n_ref = ref_metrics(test_df[["user", "item", "rating"]], pred, k)

    assert ours["n_users"] == n_ref == test_users.size
    assert ours["map"] == pytest.approx(ref["map"], abs=1e-9)
    assert ours[f"map@{k}"] == pytest.approx(ref["map_at_k"], abs=1e-9)
    assert ours[f"ndcg@{k}"] == pytest.approx(ref["ndcg"], abs=1e-9)
    assert ours[f"precision@{k}"] == pytest.approx(ref["precision"], abs=1e-9)
    assert ours[f"recall@{k}"] == pytest.approx(ref["recall"], abs=1e-9)


def test_full_ranking_hr_and_mrr_by_hand():
    # 1 user, 6 items; train item 0 (the best score) is excluded; test items 2 and 4.
    S = np.array([[9.0, 5.0, 4.0, 3.0, 2.0, 1.0]])
    test_df = pd.DataFrame({"user": [0, 0], "item": [2, 4]})
    out, top = evaluate_full_ranking(
        table_score_fn(S), [0], [0], test_df, n_items=6, k=3, return_top_k=True
    )
    np.testing.assert_array_equal(top.items, [[1, 2, 3]])
    assert out["hr@3"] == 1.0
    assert out["mrr"] == pytest.approx(1 / 2)
    assert out["precision@3"] == pytest.approx(1 / 3)
    assert out["recall@3"] == pytest.approx(1 / 2)
    assert out["map"] == pytest.approx((1 / 2) / 2)
    assert out["ndcg@3"] == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)))


def test_training_items_never_recommended():
    tu, ti, test_df, S = random_split(11)
    n_items = S.shape[1]
    _, top = evaluate_full_ranking(table_score_fn(S), tu, ti, test_df, n_items, k=10, return_top_k=True)
    train_keys = set((tu * n_items + ti).tolist())
    rec_keys = (top.users[:, None] * n_items + top.items)[top.items >= 0]
    assert train_keys.isdisjoint(rec_keys.tolist())
    # User 0 has exactly 5 unseen items: 5 recommendations, then padding.
    row0 = top.items[np.flatnonzero(top.users == 0)[0]]
    assert (row0[:5] >= 0).all() and (row0[5:] == -1).all()


def test_exclude_train_false_allows_training_items():
    S = np.array([[9.0, 5.0, 4.0]])
    test_df = pd.DataFrame({"user": [0], "item": [0]})
    out = evaluate_full_ranking(table_score_fn(S), [0], [0], test_df, 3, k=1, exclude_train=False)
    assert out["hr@1"] == 1.0


@pytest.mark.parametrize("seed", range(3))
def test_top_k_matches_argsort(seed):
    rng = np.random.default_rng(seed)
    S = rng.normal(size=(50, 200))
    users = rng.permutation(50)[:30]
    top = top_k_items(table_score_fn(S), users, 200, 15, user_block=8)
    expected = np.argsort(-S[users], axis=1)[:, :15]
    np.testing.assert_array_equal(top.items, expected)
    np.testing.assert_array_equal(top.scores, np.take_along_axis(S[users], expected, axis=1))


def test_top_k_with_exclusions_matches_argsort():
    rng = np.random.default_rng(5)
    S = rng.normal(size=(40, 100))
    excluded = rng.random((40, 100)) < 0.4
    eu, ei = np.nonzero(excluded)
    indptr = np.concatenate([[0], np.cumsum(excluded.sum(1))])
    top = top_k_items(table_score_fn(S), np.arange(40), 100, 10, exclude_csr=(indptr, ei))
    masked = np.where(excluded, -np.inf, S)
    np.testing.assert_array_equal(top.items, np.argsort(-masked, axis=1)[:, :10])


@pytest.mark.parametrize("user_block", [1, 7, None])
def test_top_k_tie_rule_lower_item_first(user_block):
    rng = np.random.default_rng(2)
    S = rng.integers(0, 4, size=(30, 50)).astype(float)  # heavy ties
    top = top_k_items(table_score_fn(S), np.arange(30), 50, 12, user_block=user_block)
    items = np.arange(50)
    expected = np.stack([np.lexsort((items, -row))[:12] for row in S])
    np.testing.assert_array_equal(top.items, expected)


def test_top_k_constant_scores_and_k_above_n_items():
    top = top_k_items(lambda u, i: np.zeros(u.shape), np.array([3, 1]), 4, 6)
    np.testing.assert_array_equal(top.items, [[0, 1, 2, 3, -1, -1]] * 2)


def test_top_k_permuting_users_permutes_rows():
    rng = np.random.default_rng(8)
    S = rng.normal(size=(25, 60))
    users = np.arange(25)
    perm = rng.permutation(25)
    a = top_k_items(table_score_fn(S), users, 60, 5, user_block=4)
    b = top_k_items(table_score_fn(S), users[perm], 60, 5, user_block=9)
    np.testing.assert_array_equal(b.items, a.items[perm])


def test_full_ranking_ml100k_size_scores_in_one_call():
    # Timing lives in benchmarks/; here: an ML-100K-sized ranking is one vectorised score_fn call.
    rng = np.random.default_rng(0)
    n_users, n_items = 943, 1682
    S = rng.random((n_users, n_items))
    tu, ti = rng.integers(0, n_users, 75_000), rng.integers(0, n_items, 75_000)
    test_df = pd.DataFrame({"user": np.r_[np.arange(n_users), rng.integers(0, n_users, 24_057)],
                            "item": rng.integers(0, n_items, 25_000)})
    calls = []

    def fn(u, i):
        calls.append(len(u))
        return S[u, i]

    out = evaluate_full_ranking(fn, tu, ti, test_df, n_items, k=10)
    assert out["n_users"] == n_users
    assert calls == [n_users * n_items]


def test_score_fn_shape_and_nan_errors():
    test_df = pd.DataFrame({"user": [0], "item": [1]})
    with pytest.raises(ValueError, match=r"shape \(3, 2\).*\(3,\)"):
        evaluate_full_ranking(lambda u, i: np.zeros((u.size, 2)), [], [], test_df, 3)
    with pytest.raises(ValueError, match="NaN"):
        evaluate_full_ranking(lambda u, i: np.full(u.size, np.nan), [], [], test_df, 3)
    with pytest.raises(ValueError, match="n_items"):
        evaluate_full_ranking(lambda u, i: np.zeros(u.size), [], [], test_df, 1)


# --- sampled protocol --------------------------------------------------------


def test_sampled_hand_case():
    # Scores depend on the item only. Row 0: positive 5 (0.9) beats 1, 2, 3 -> rank 1.
    # Row 1: positive 4 (0.5) behind 5 (0.9) and tied with 6 -> rank 3 (ties count against it).
    item_score = np.array([0.0, 0.1, 0.2, 0.3, 0.5, 0.9, 0.5])
    fn = lambda u, i: item_score[i]  # noqa: E731
    out, ranks = evaluate_sampled(
        fn, [0, 1], [5, 4], np.array([[1, 2, 3], [5, 6, 1]]), ks=(1, 2, 3), return_ranks=True
    )
    np.testing.assert_array_equal(ranks, [1, 3])
    assert out["hr@1"] == 0.5 and out["hr@2"] == 0.5 and out["hr@3"] == 1.0
    assert out["ndcg@1"] == pytest.approx(0.5)
    assert out["ndcg@3"] == pytest.approx((1 + 1 / np.log2(4)) / 2)
    assert out["mrr"] == pytest.approx((1 + 1 / 3) / 2)
    assert out["n_users"] == 2 and out["n_rows"] == 2


def test_sampled_constant_model_scores_zero():
    n, n_neg = 20, 99
    rng = np.random.default_rng(0)
    negs = rng.integers(100, 1000, size=(n, n_neg))
    out = evaluate_sampled(lambda u, i: np.ones(u.size), np.arange(n), np.arange(n), negs)
    assert out["hr@10"] == 0.0 and out["ndcg@10"] == 0.0
    assert out["mrr"] == pytest.approx(1 / 100)


def test_sampled_permutation_and_batching_do_not_change_rows():
    rng = np.random.default_rng(4)
    n_users, n_items, n = 40, 300, 40
    S = rng.normal(size=(n_users, n_items))
    users = np.arange(n)
    pos = rng.integers(0, 100, n)
    negs = rng.integers(100, n_items, size=(n, 99))
    fn = table_score_fn(S)
    base, r = evaluate_sampled(fn, users, pos, negs, batch_size=10_000, return_ranks=True)
    perm = rng.permutation(n)
    permuted, rp = evaluate_sampled(fn, users[perm], pos[perm], negs[perm], batch_size=250, return_ranks=True)
    np.testing.assert_array_equal(rp, r[perm])
    assert permuted == pytest.approx(base)
    # The ranks equal a direct count per row.
    direct = 1 + (S[users[:, None], negs] >= S[users, pos][:, None]).sum(1)
    np.testing.assert_array_equal(r, direct)


def test_sampled_input_errors():
    fn = lambda u, i: np.zeros(u.size)  # noqa: E731
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        evaluate_sampled(fn, [0, 1, 2], [1, 2, 3], np.zeros((2, 3), int))
    with pytest.raises(ValueError, match="positive among the negatives"):
        evaluate_sampled(fn, [0], [7], np.array([[1, 7, 3]]))


# --- classification and rating ------------------------------------------------


def test_evaluate_classification_batches_agree():
    rng = np.random.default_rng(1)
    S = rng.random((10, 20))
    users, items = rng.integers(0, 10, 150), rng.integers(0, 20, 150)
    labels = (rng.random(150) < S[users, items]).astype(int)
    a = evaluate_classification(table_score_fn(S), users, items, labels, batch_size=7)
    b = evaluate_classification(table_score_fn(S), users, items, labels)
    assert a == pytest.approx(b)
    pred = S[users, items] >= 0.5
    tp = (pred & (labels == 1)).sum()
    assert a["precision"] == pytest.approx(tp / pred.sum())
    assert a["recall"] == pytest.approx(tp / labels.sum())


def test_evaluate_rating():
    R = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = evaluate_rating(lambda u, i: R[u, i] + 0.5, [0, 1, 1], [1, 0, 1], [2.0, 3.0, 4.0], batch_size=2)
    assert out == {"rmse": pytest.approx(0.5), "mae": pytest.approx(0.5), "n": 3}


def test_evaluation_does_not_import_tensorflow():
    code = "import sys, hncf.evaluation; print('tensorflow' in sys.modules, 'matplotlib' in sys.modules)"
    repo = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    assert res.stdout.split() == ["False", "False"]
