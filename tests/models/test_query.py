"""Query recommender: variants, loss by formula, copy boost, save/load, cached vs end-to-end agreement."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from scipy import sparse

from hncf.models.query import (MentionCooccurrence, MentionCopy, MovieTextLogits, QueryLoss, QueryRecommender, cached_twin,
                               compile_query, copy_boost_init, copy_head_weights, pad_mentions, top_neighbours)
from hncf.testing import assert_batch_permutation_equivariant, assert_model_round_trip

N, DIM, L = 7, 6, 4
SMALL = dict(hidden=8, rnn_embedding=5, rnn_hidden=3, max_mentions=L)


def _inputs(n=5, seed=0, mentions=True):
    rng = np.random.default_rng(seed)
    x = {"text_vector": rng.normal(size=(n, DIM)).astype("float32")}
    if mentions:
        x["mentions"] = pad_mentions([rng.integers(0, N, k) for k in rng.integers(0, L + 2, n)], L)
    return x


def test_pad_mentions_right_aligns_and_keeps_the_latest():
    out = pad_mentions([[3], [], [0, 1, 2, 4, 5]], 3)
    np.testing.assert_array_equal(out, [[0, 0, 4], [0, 0, 0], [3, 5, 6]])


@pytest.mark.parametrize("variant, copy, names", [("bert", False, {"text_vector"}),
                                                  ("rnn", False, {"text_vector", "mentions"}),
                                                  ("tags", True, {"text_vector", "mentions"}),
                                                  ("bert", True, {"text_vector", "mentions"})])
def test_variants_inputs_shapes_round_trip(variant, copy, names, tmp_path):
    m = QueryRecommender(N, text_dim=DIM, variant=variant, copy_mentions=copy, seed=1, **SMALL)
    assert set(m.input) == names
    x = {k: v for k, v in _inputs().items() if k in names}
    assert m(x).shape == (5, N)
    assert_model_round_trip(m, x, tmp_path)
    assert_batch_permutation_equivariant(m, x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        QueryRecommender(N, text_dim=DIM, variant="gpt")
    with pytest.raises(ValueError, match="exactly one"):
        QueryRecommender(N)


def test_query_loss_matches_the_formula():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, N)).astype("float32")
    y = np.zeros((3, N + 1), "float32")
    y[0, [1, 4]] = 1  # main task
    y[1, 2] = 1  # main task
    y[2, 5], y[2, -1] = 1, 1  # tag task: softmax over movies
    sig = 1 / (1 + np.exp(-logits.astype(np.float64)))
    bce = -(y[:2, :N] * np.log(sig[:2]) + (1 - y[:2, :N]) * np.log(1 - sig[:2])).sum(axis=1)
    ce = -(logits[2] - np.log(np.exp(logits[2].astype(np.float64)).sum()))[5]
    expected = np.r_[bce, ce].mean()
    got = float(QueryLoss()(y, logits))
    assert got == pytest.approx(expected, rel=1e-5)


def test_mention_copy_boosts_mentioned_movies_by_recency():
    layer = MentionCopy(N, max_rank=2)
    layer.build(None)
    layer.boost.assign([3.0, 2.0, 1.0])
    logits = np.zeros((2, N), "float32")
    mentions = np.array([[0, 1, 4, 2], [0, 0, 0, 0]], "int32")  # movies 0, 3, 1 (latest)
    out = np.asarray(layer([logits, mentions]))
    np.testing.assert_allclose(out[0], [1, 3, 0, 2, 0, 0, 0])
    np.testing.assert_allclose(out[1], 0)
    # The offset reaches mentioned movies only (it cancels their popularity bias in the model).
    layer.offset.assign(-np.arange(N, dtype="float32"))
    out = np.asarray(layer([logits, mentions]))
    np.testing.assert_allclose(out[0], [1, 2, 0, -1, 0, 0, 0])
    np.testing.assert_allclose(out[1], 0)


def test_copy_boost_init_is_the_log_odds_of_rerecommendation_by_rank():
    # Two examples: mentions oldest first; the latest mention is a target once of twice, the older never.
    mentions = [[0, 1], [2, 3]]
    targets = [[1], [5]]
    base = np.full(N, -2.0)
    boost = copy_boost_init(mentions, targets, base, max_rank=2)
    np.testing.assert_allclose(boost, [np.log(0.5 / 0.5) + 2.0, np.log(1e-3 / (1 - 1e-3)) + 2.0, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(copy_boost_init([[], []], targets, base, max_rank=2), 0)


def test_top_neighbours_keeps_the_most_frequent_and_pads():
    c = sparse.csr_matrix(np.array([[9, 3, 1, 2], [3, 0, 0, 0], [1, 0, 0, 5], [2, 0, 5, 0]], float))
    ids, counts = top_neighbours(c, 2)
    np.testing.assert_array_equal(ids, [[0, 0], [2, 4], [1, 0], [4, 1], [3, 1]])  # ids + 1; row 0 = padding
    np.testing.assert_array_equal(counts, [[0, 0], [3, 2], [3, 0], [5, 1], [5, 2]])


def test_mention_cooccurrence_adds_log_counts_by_hand():
    c = sparse.csr_matrix(np.array([[0, 2, 1, 0, 0, 0, 0], [2, 0, 0, 3, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0]] +
                                   [[0] * 7] * 4, float))
    layer = MentionCooccurrence(N, neighbours=3, alpha=0.5)
    layer.build(None)
    layer.set_table(*top_neighbours(c, 3))
    logits = np.ones((2, N), "float32")
    mentions = np.array([[0, 1, 2], [0, 0, 0]], "int32")  # movies 0 and 1
    out = np.asarray(layer([logits, mentions]))
    summed = np.array([0, 0, 1, 3, 0, 0, 0], float)  # 2: from 0 (1); 3: from 1 (3); mentioned 0 and 1 get none
    np.testing.assert_allclose(out[0], 1 + 0.5 * np.log1p(summed), rtol=1e-6)
    np.testing.assert_allclose(out[1], 1)
    with pytest.raises(ValueError, match="does not fit"):
        layer.set_table(*top_neighbours(c, 2))


def test_movie_text_logits_by_hand():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(N, DIM)).astype("float32")
    layer = MovieTextLogits(N, DIM)
    h = rng.normal(size=(3, 4)).astype("float32")
    layer.build(h.shape)
    layer.movie_vectors.assign(v)
    np.testing.assert_allclose(np.asarray(layer(h)), h @ (v @ layer.projection.numpy()).T, rtol=1e-5, atol=1e-5)
    assert [w.name for w in layer.trainable_weights] == ["projection"]


def test_cooccurrence_table_travels_with_the_saved_model(tmp_path):
    rng = np.random.default_rng(0)
    c = sparse.random(N, N, density=0.5, random_state=0, format="csr")
    c = (c + c.T) * 10
    m = QueryRecommender(N, text_dim=DIM, variant="bert", copy_mentions=True, cooccurrence=3, seed=1,
                         neighbour_table=top_neighbours(c, 3), copy_init=rng.normal(size=9), movie_text_dim=5,
                         movie_vectors=rng.normal(size=(N, 5)), output_bias=rng.normal(size=N), **SMALL)
    x = _inputs()
    assert set(m.input) == {"text_vector", "mentions"}
    loaded = assert_model_round_trip(m, x, tmp_path)
    np.testing.assert_array_equal(loaded.get_layer("mention_cooccurrence").neighbour_ids.numpy(),
                                  top_neighbours(c, 3)[0])
    np.testing.assert_allclose(loaded.get_layer("movie_logits_text").movie_vectors.numpy(),
                               m.get_layer("movie_logits_text").movie_vectors.numpy())
    assert_batch_permutation_equivariant(m, x)


def test_training_step_lowers_the_loss():
    keras.utils.set_random_seed(0)
    m = compile_query(QueryRecommender(N, text_dim=DIM, variant="rnn", seed=0, **SMALL), 1e-2)
    x = _inputs(n=16)
    y = np.zeros((16, N + 1), "float32")
    y[np.arange(16), np.arange(16) % N] = 1
    first = m.train_on_batch(x, y)
    for _ in range(30):
        last = m.train_on_batch(x, y)
    assert last < first


def test_cached_and_end_to_end_paths_agree(tiny_text_encoder, tmp_path):
    enc = tiny_text_encoder(pooling="mean")
    texts = np.array(["the cat and the dog", "a love story in the city", "old man and the sea", "space war"])
    e2e = QueryRecommender(N, text_layer=enc.as_layer(trainable=True), variant="rnn", copy_mentions=True, seed=3,
                           **SMALL)
    # Non-zero copy boosts so the comparison covers that layer too.
    e2e.get_layer("mention_copy").boost.assign(np.linspace(1, 0, 9).astype("float32"))
    mentions = pad_mentions([[1], [], [2, 3], [6]], L)
    x_e2e = {"text": tf.constant(texts), "mentions": tf.constant(mentions)}
    twin = cached_twin(e2e)
    x_cached = {"text_vector": enc.encode(texts, progress=False), "mentions": mentions}
    np.testing.assert_allclose(np.asarray(twin(x_cached)), np.asarray(e2e(x_e2e)), rtol=1e-5, atol=1e-5)
    fresh = QueryRecommender(N, text_dim=enc.dim, variant="rnn", copy_mentions=True, **SMALL)
    np.testing.assert_allclose(np.asarray(copy_head_weights(e2e, fresh)(x_cached)), np.asarray(twin(x_cached)),
                               rtol=1e-6)
    loaded = assert_model_round_trip(e2e, x_e2e, tmp_path, config_round_trip=False)
    assert loaded.get_layer("bert_text_embedding").trainable
