"""HNCF fusion model: variants, shapes, save/load, and agreement of the cached and end-to-end paths."""

import keras
import numpy as np
import pytest

from hncf.testing import assert_batch_permutation_equivariant, assert_model_round_trip
import tensorflow as tf

from hncf.models.hncf import HNCFConfig, build_hncf, build_hncf_end_to_end, copy_head_weights

N_USERS, N_ITEMS, TEXT_DIM, POSTER_DIM = 6, 9, 8, 5
CFG = HNCFConfig(embedding_dim=4, poster_units=6, hidden=(8, 4), dropout=0.3)
TEXTS = np.array([f"movie {k} about thing {k % 3}" for k in range(N_ITEMS)], dtype=object)


def _text_layer():
    # A small, real text encoder: hash the whole string into an embedding table.
    inp = keras.Input(shape=(), dtype="string")
    x = keras.layers.Hashing(64, name="text_hash")(inp)
    x = keras.layers.Embedding(64, TEXT_DIM, name="text_table")(x)
    return keras.Model(inp, x, name="tiny_text")


def _poster_encoder():
    inp = keras.Input(shape=(16, 16, 3))
    x = keras.layers.Conv2D(POSTER_DIM, 3, name="tiny_conv")(inp)
    x = keras.layers.GlobalMaxPooling2D(name="tiny_pool")(x)
    m = keras.Model(inp, x, name="tiny_vgg")
    m.trainable = False
    return m


def _batch(seed=0, n=12):
    rng = np.random.default_rng(seed)
    items = rng.integers(0, N_ITEMS, n).astype("int32")
    return {"user_id": rng.integers(0, N_USERS, n).astype("int32"), "item_id": items}


def _cached_inputs(batch, text_table, poster_table, mask_table, variant):
    x = dict(batch)
    if variant in ("bert_ncf", "hncf"):
        x["text_vector"] = text_table[batch["item_id"]]
    if variant == "hncf":
        x["poster_vector"] = poster_table[batch["item_id"]]
        x["poster_mask"] = mask_table[batch["item_id"]].reshape(-1, 1)
    return x


@pytest.mark.parametrize("variant, inputs", [("ncf", {"user_id", "item_id"}),
                                             ("bert_ncf", {"user_id", "item_id", "text_vector"}),
                                             ("hncf", {"user_id", "item_id", "text_vector", "poster_vector",
                                                       "poster_mask"})])
def test_variants_take_their_inputs_and_output_probabilities(variant, inputs):
    m = build_hncf(N_USERS, N_ITEMS, TEXT_DIM, POSTER_DIM, CFG, variant=variant, seed=0)
    assert set(m.input.keys()) == inputs
    rng = np.random.default_rng(0)
    x = _cached_inputs(_batch(), rng.normal(size=(N_ITEMS, TEXT_DIM)).astype("float32"),
                       rng.normal(size=(N_ITEMS, POSTER_DIM)).astype("float32"),
                       (rng.random(N_ITEMS) > 0.5).astype("float32"), variant)
    out = np.asarray(m.predict_on_batch(x))
    assert out.shape == (12,) and np.all((out > 0) & (out < 1))


def test_missing_poster_pixels_do_not_reach_the_model_but_the_flag_does():
    m = build_hncf(N_USERS, N_ITEMS, TEXT_DIM, POSTER_DIM, CFG, seed=1)
    rng = np.random.default_rng(1)
    x = _cached_inputs(_batch(), rng.normal(size=(N_ITEMS, TEXT_DIM)).astype("float32"),
                       rng.normal(size=(N_ITEMS, POSTER_DIM)).astype("float32"), np.zeros(N_ITEMS, "float32"),
                       "hncf")
    base = np.asarray(m.predict_on_batch(x))
    other = dict(x, poster_vector=x["poster_vector"] + 5.0)
    np.testing.assert_allclose(np.asarray(m.predict_on_batch(other)), base, rtol=1e-6)
    flagged = dict(x, poster_mask=np.ones_like(x["poster_mask"]))
    assert not np.allclose(np.asarray(m.predict_on_batch(flagged)), base)


def test_save_and_reload_with_safe_mode(tmp_path):
    m = build_hncf(N_USERS, N_ITEMS, TEXT_DIM, POSTER_DIM, CFG, seed=2)
    rng = np.random.default_rng(2)
    x = _cached_inputs(_batch(), rng.normal(size=(N_ITEMS, TEXT_DIM)).astype("float32"),
                       rng.normal(size=(N_ITEMS, POSTER_DIM)).astype("float32"),
                       (rng.random(N_ITEMS) > 0.5).astype("float32"), "hncf")
    assert_model_round_trip(m, x, tmp_path)


def test_permuting_the_batch_permutes_the_scores():
    m = build_hncf(N_USERS, N_ITEMS, TEXT_DIM, POSTER_DIM, CFG, variant="bert_ncf", seed=3)
    table = np.random.default_rng(3).normal(size=(N_ITEMS, TEXT_DIM)).astype("float32")
    assert_batch_permutation_equivariant(m, _cached_inputs(_batch(n=20), table, None, None, "bert_ncf"), seed=4)


@pytest.mark.parametrize("variant", ["bert_ncf", "hncf"])
def test_cached_and_end_to_end_paths_agree_for_the_same_weights(variant):
    keras.utils.set_random_seed(5)
    text_layer, poster_encoder = _text_layer(), _poster_encoder()
    e2e = build_hncf_end_to_end(N_USERS, N_ITEMS, text_layer, poster_encoder, CFG, variant=variant, seed=5)
    rng = np.random.default_rng(5)
    images = rng.random((N_ITEMS, 16, 16, 3)).astype("float32")
    mask = (np.arange(N_ITEMS) % 3 != 0).astype("float32")
    # The cache: each frozen encoder runs once per item; a missing poster is stored as zeros.
    text_table = np.asarray(text_layer(tf.constant(TEXTS.astype(str))))
    poster_table = np.asarray(poster_encoder(images)) * mask[:, None]
    cached = copy_head_weights(e2e, build_hncf(N_USERS, N_ITEMS, TEXT_DIM, POSTER_DIM, CFG, variant=variant))
    batch = _batch(seed=6, n=15)
    x_e2e = dict(batch, movie_text=tf.constant(TEXTS[batch["item_id"]].astype(str)))
    if variant == "hncf":
        x_e2e.update(poster=images[batch["item_id"]], poster_mask=mask[batch["item_id"]].reshape(-1, 1))
    x_cached = _cached_inputs(batch, text_table, poster_table, mask, variant)
    np.testing.assert_allclose(np.asarray(cached.predict_on_batch(x_cached)),
                               np.asarray(e2e.predict_on_batch(x_e2e)), rtol=1e-5, atol=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="variant"):
        build_hncf(N_USERS, N_ITEMS, TEXT_DIM, POSTER_DIM, variant="hncf++")
    with pytest.raises(ValueError, match="text_dim"):
        build_hncf(N_USERS, N_ITEMS, 0, POSTER_DIM, variant="bert_ncf")
    with pytest.raises(ValueError, match="poster_encoder"):
        build_hncf_end_to_end(N_USERS, N_ITEMS, _text_layer(), None, variant="hncf")
    with pytest.raises(ValueError, match="no layer"):
        copy_head_weights(build_hncf(N_USERS, N_ITEMS, variant="ncf"),
                          build_hncf(N_USERS, N_ITEMS, TEXT_DIM, POSTER_DIM, variant="hncf"))
