"""The hybrid's parts: content search, the NCF rating model, the fold-ins and the blend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hncf.models.content import (ContentRecommender, ExactIndex, HNSWIndex, content_scores, embed_items,
                                 l2_normalise, recall_at_k, top_k, user_vector, user_vectors)
from hncf.models.rating import (NCFFoldIn, blend_scores, build_biased_mf, build_ncf_rating, compile_rating,
                                fold_in_mf, scale_ratings, unscale_ratings, zscore)
from hncf.pipeline.rating import RatingRows, fit_rating_model
from hncf.training import TrainConfig
from hncf.testing import assert_batch_permutation_equivariant, assert_model_round_trip


def unit(n, d, seed=0):
    return l2_normalise(np.random.default_rng(seed).normal(size=(n, d)))


# -- content -------------------------------------------------------------------------------------------

def test_top_k_matches_argsort_excludes_and_breaks_ties_by_index():
    s = np.random.default_rng(1).normal(size=200)
    np.testing.assert_array_equal(top_k(s, 7), np.argsort(-s, kind="stable")[:7])
    ex = np.argsort(-s)[:3]
    got = top_k(s, 5, exclude=ex)
    assert not np.isin(got, ex).any() and np.array_equal(got, np.argsort(-s)[3:8])
    assert top_k(np.array([1.0, 2.0, 2.0, 0.0]), 3).tolist() == [1, 2, 0]
    assert top_k(np.ones(3), 5, exclude=[0, 1, 2]).tolist() == []


def test_user_vector_is_the_normalised_mean_and_batches_agree():
    v = unit(50, 8)
    liked = np.array([3, 7, 11])
    m = v[liked].mean(axis=0)
    np.testing.assert_allclose(user_vector(v, liked), m / np.linalg.norm(m), rtol=1e-6)
    rows = [np.array([1]), liked, np.arange(10)]
    np.testing.assert_allclose(user_vectors(v, rows), np.stack([user_vector(v, r) for r in rows]), rtol=1e-5)
    np.testing.assert_allclose(content_scores(v, liked), v @ user_vector(v, liked), rtol=1e-6)
    with pytest.raises(ValueError, match="at least one liked"):
        user_vector(v, [])


def test_exact_and_hnsw_indexes_agree_with_brute_force():
    v = unit(3000, 16, seed=2)
    q = unit(20, 16, seed=3)
    brute = np.argsort(-(q @ v.T), axis=1)[:, :10]
    scores, idx = ExactIndex(v).search(q, 10)
    np.testing.assert_array_equal(idx, brute)
    np.testing.assert_allclose(scores, np.take_along_axis(q @ v.T, brute, axis=1), rtol=1e-5)
    _, approx = HNSWIndex(v, m=16, ef_search=64, threads=1).search(q, 10)
    assert recall_at_k(approx, brute) >= 0.95
    assert recall_at_k(brute[:, ::-1], brute) == 1.0 and recall_at_k(brute + 5000, brute) == 0.0


def test_content_recommender_never_returns_liked_or_excluded():
    v = unit(100, 8, seed=4)
    for index in (None, HNSWIndex(v, threads=1)):
        rec = ContentRecommender(v, index=index)
        idx, scores = rec.recommend([1, 2, 3], k=10, exclude=[4, 5])
        assert len(idx) == 10 and not np.isin(idx, [1, 2, 3, 4, 5]).any()
        assert np.all(np.diff(scores) <= 1e-6)
        expected = top_k(rec.scores([1, 2, 3]), 10, exclude=[1, 2, 3, 4, 5])
        assert len(set(idx) & set(expected)) >= 9


def test_embeddings_cached_once_and_equal_to_direct_encoding(tmp_path, tiny_text_encoder):
    from hncf.encoders.cache import FeatureCache

    enc = tiny_text_encoder("preset", pooling="mean", normalize=True)
    ids = ["s1", "s2", "s3"]
    texts = ["a cat in the city.", "the old man and the sea.", "a love story of space war."]
    cache = FeatureCache(tmp_path / "cache")
    first = embed_items(enc, ids, texts, cache=cache, progress=False)
    second = embed_items(enc, ids, texts, cache=cache, progress=False)
    direct = embed_items(enc, ids, texts, cache=None, progress=False)
    np.testing.assert_allclose(first, direct, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)
    assert cache.stats()["computed"] == 3 and cache.stats()["hits"] == 3
    edited = embed_items(enc, ids, texts[:2] + ["a funny dog."], cache=cache, progress=False)
    assert cache.stats()["computed"] == 4  # only the edited text is encoded again
    np.testing.assert_array_equal(edited[:2], first[:2])


# -- rating models ----------------------------------------------------------------------------------------

def synthetic_ratings(n_users=40, n_items=30, seed=0):
    rng = np.random.default_rng(seed)
    U, V = rng.normal(size=(n_users, 3)), rng.normal(size=(n_items, 3))
    users = rng.integers(0, n_users, 1500)
    items = rng.integers(0, n_items, 1500)
    r = np.clip(np.round(3 + (U[users] * V[items]).sum(1)), 1, 5)
    return users, items, r


def test_scaling_round_trip_and_range():
    r = np.array([0.5, 2.75, 5.0])
    np.testing.assert_allclose(scale_ratings(r, 0.5, 5.0), [-1, 0, 1], atol=1e-6)
    np.testing.assert_allclose(unscale_ratings(scale_ratings(r, 0.5, 5.0), 0.5, 5.0), r, atol=1e-5)
    assert unscale_ratings(np.array([3.0]), 1, 5)[0] == 5.0  # clipped


def test_ncf_rating_trains_gmf_and_round_trips(tmp_path):
    users, items, r = synthetic_ratings()
    make = lambda: build_ncf_rating(40, 30, n_factors=4, layers=(8, 4), seed=0)  # noqa: E731
    before = {n: make().get_layer(n).get_weights()[0].copy() for n in ("gmf_user_embedding", "gmf_item_embedding")}
    model, res = fit_rating_model(make, RatingRows(users[:1200], items[:1200], r[:1200]),
                                  RatingRows(users[1200:], items[1200:], r[1200:]),
                                  TrainConfig(epochs=4, batch_size=128, learning_rate=1e-2), 1, 5, refit=False)
    assert res["history"]["loss"][-1] < res["history"]["loss"][0]
    for name, w in before.items():  # the paper's code never trained these
        assert np.abs(model.get_layer(name).get_weights()[0] - w).max() > 1e-3, name
    x = {"user_id": users[:16].astype("int32"), "item_id": items[:16].astype("int32")}
    out = np.asarray(model(x))
    assert out.shape == (16,) and np.all(np.abs(out) <= 1)
    assert_model_round_trip(model, x, tmp_path)
    assert_batch_permutation_equivariant(model, x)
    mf = build_biased_mf(40, 30, n_factors=4)
    assert_model_round_trip(mf, x, tmp_path)


def test_mf_fold_in_is_the_ridge_solution():
    rng = np.random.default_rng(0)
    f = {"Q": rng.normal(size=(20, 3)).astype(np.float32), "b_i": rng.normal(size=20).astype(np.float32),
         "mu": 0.2, "p0": rng.normal(size=3).astype(np.float32)}
    liked, reg = np.array([1, 4, 9, 12]), 0.5
    # Solve by stacking the ridge rows: sqrt(reg) * (x - prior) = 0 appended to the data rows.
    A = np.c_[f["Q"][liked], np.ones(len(liked))]
    prior = np.r_[f["p0"], 0.0]
    y = 1.0 - f["mu"] - f["b_i"][liked]
    A_aug = np.r_[A, np.sqrt(reg) * np.eye(4)]
    y_aug = np.r_[y, np.sqrt(reg) * prior]
    x = np.linalg.lstsq(A_aug, y_aug, rcond=None)[0]
    expected = f["mu"] + x[-1] + f["b_i"] + f["Q"] @ x[:3]
    np.testing.assert_allclose(fold_in_mf(f, liked, reg=reg), expected, rtol=1e-4, atol=1e-5)


def test_ncf_fold_in_moves_towards_the_likes_and_freezes_items():
    users, items, r = synthetic_ratings(seed=1)
    model = compile_rating(build_ncf_rating(40, 30, n_factors=4, layers=(8, 4), seed=0), 1e-2)
    model.fit({"user_id": users.astype("int32"), "item_id": items.astype("int32")}, scale_ratings(r, 1, 5),
              epochs=3, batch_size=128, verbose=0)
    weights = [w.copy() for w in model.get_weights()]
    fold = NCFFoldIn(model, steps=40, learning_rate=0.05)
    # The hand-written forward pass equals the Keras model for a training user.
    x = {"user_id": np.full(30, 3, np.int32), "item_id": np.arange(30, dtype=np.int32)}
    np.testing.assert_allclose(fold.scores_for_known_user(3), np.asarray(model(x)), rtol=1e-4, atol=1e-5)
    liked = np.array([2, 5, 7])
    start = NCFFoldIn(model, steps=0).scores(liked)
    after = fold.scores(liked)
    assert np.mean((after[liked] - 1) ** 2) < np.mean((start[liked] - 1) ** 2)
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="out of range"):
        fold.scores([30])


def test_ncf_fold_in_gradient_matches_tensorflow_autodiff():
    import tensorflow as tf

    model = build_ncf_rating(20, 15, n_factors=4, layers=(8, 6, 4), seed=3)
    fold = NCFFoldIn(model, reg=0.3, target=0.8)
    rng = np.random.default_rng(0)
    u_g, u_m = rng.normal(size=4), rng.normal(size=4)
    liked = np.array([1, 4, 4, 9])
    loss, g_g, g_m = fold.loss_and_grads(u_g, u_m, liked)
    tg, tm = tf.Variable(u_g), tf.Variable(u_m)
    with tf.GradientTape() as tape:
        x = tf.concat([tf.tile(tm[None], [4, 1]), tf.constant(fold.item_mlp[liked])], axis=1)
        for kernel, bias in fold.dense:
            x = tf.nn.relu(x @ kernel + bias)
        c = tf.concat([tf.constant(fold.item_gmf[liked]) * tg, x], axis=1)
        p = tf.tanh(c @ fold.out_kernel + fold.out_bias)[:, 0]
        t_loss = tf.reduce_mean((p - 0.8) ** 2) + 0.3 * (tf.reduce_sum((tg - fold.u0_gmf) ** 2)
                                                         + tf.reduce_sum((tm - fold.u0_mlp) ** 2))
    dg, dm = tape.gradient(t_loss, [tg, tm])
    np.testing.assert_allclose(loss, t_loss.numpy(), rtol=1e-10)
    np.testing.assert_allclose(g_g, dg.numpy(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(g_m, dm.numpy(), rtol=1e-8, atol=1e-12)


def test_blend_is_a_weighted_sum_of_standardised_scores():
    rng = np.random.default_rng(0)
    content, cf = rng.normal(size=10), rng.normal(size=10)
    signal = np.arange(10) < 6
    np.testing.assert_allclose(blend_scores(content, cf, 0.0, signal), zscore(content))
    b = blend_scores(content, cf, 0.3, signal)
    zc = (content - content.mean()) / content.std()
    zf = (cf - cf[:6].mean()) / cf[:6].std()
    np.testing.assert_allclose(b[:6], 0.7 * zc[:6] + 0.3 * zf[:6], rtol=1e-6)
    np.testing.assert_allclose(b[6:], 0.7 * zc[6:], rtol=1e-6)  # no signal: content only
    with pytest.raises(ValueError, match="blend weight"):
        blend_scores(content, cf, 1.5)


# -- the experiment's pieces ------------------------------------------------------------------------------

def test_simulated_new_users_and_cold_auc():
    from hncf.experiments.content import cold_item_auc, simulate_new_users

    likes = pd.DataFrame({"user": [1] * 6 + [2] * 3, "item": [0, 1, 2, 3, 4, 5, 6, 7, 8]})
    sim = simulate_new_users(likes, np.array([1, 2]), n_ticks=3, seed=0)
    assert sim["users"] == [1]  # user 2 has no like left to find
    assert len(sim["ticks"][0]) == 3 and len(np.intersect1d(sim["ticks"][0], sim["held"][0])) == 0
    assert sorted(np.r_[sim["ticks"][0], sim["held"][0]]) == [0, 1, 2, 3, 4, 5]
    # Cold items 6..9; held-out like 7 scored above 6 and 8, below 9: AUC = 2/3.
    scores = np.array([[0, 0, 0, 0, 0, 0, 0.1, 0.5, 0.2, 0.9]])
    value, n = cold_item_auc(scores, [np.array([1, 7])], [np.array([0])], np.array([6, 7, 8, 9]))
    assert n == 1 and value == pytest.approx(2 / 3)


def test_cold_items_get_factors_predicted_from_content():
    from hncf.models.rating import map_cold_items

    rng = np.random.default_rng(0)
    V = rng.normal(size=(60, 5))
    A, a = rng.normal(size=(5, 3)), rng.normal(size=5)
    f = {"Q": (V @ A).astype(np.float32), "b_i": (V @ a).astype(np.float32), "mu": 0.1, "p0": np.zeros(3)}
    warm = np.arange(60) < 45
    mapped = map_cold_items({**f, "Q": np.where(warm[:, None], f["Q"], 0), "b_i": np.where(warm, f["b_i"], 0)},
                            V, warm, counts=np.ones(60), reg=1e-6)
    np.testing.assert_array_equal(mapped["Q"][warm], f["Q"][warm])  # trained factors are kept
    np.testing.assert_allclose(mapped["Q"][~warm], f["Q"][~warm], atol=1e-3)  # a linear map is recovered
    np.testing.assert_allclose(mapped["b_i"][~warm], f["b_i"][~warm], atol=1e-3)
