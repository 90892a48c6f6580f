"""BERT-RS model: shapes, serialisation, batch equivariance, and the cached vs end-to-end twins."""

import numpy as np
import tensorflow as tf

from hncf.models.bert_rs import BertRSConfig, build_bert_rs, build_bert_rs_end_to_end, copy_head
from hncf.testing import assert_batch_permutation_equivariant, assert_model_round_trip

CFG = BertRSConfig(semantic_dim=8, n_factors=4, mlp_layers=(16, 8, 4))
TEXTS = ["the guitar strings", "a love story of the sea", "funny cat movie", "the old man and his dog"]


def _inputs(n=6, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    return {"user_id": rng.integers(0, 5, n).astype("int32"), "item_id": rng.integers(0, 7, n).astype("int32"),
            "review_vector": rng.normal(size=(n, dim)).astype("float32")}


def test_shapes_round_trip_and_equivariance(tmp_path):
    model = build_bert_rs(5, 7, 16, CFG, seed=0)
    x = _inputs()
    out = np.asarray(model.predict_on_batch(x))
    assert out.shape == (6,) and ((out > 0) & (out < 1)).all()
    assert_model_round_trip(model, x, tmp_path)
    assert_batch_permutation_equivariant(model, _inputs(20, seed=1))


def test_the_review_vector_changes_the_score():
    model = build_bert_rs(5, 7, 16, CFG, seed=0)
    x = _inputs()
    zeroed = dict(x, review_vector=np.zeros_like(x["review_vector"]))
    assert not np.allclose(model.predict_on_batch(x), model.predict_on_batch(zeroed))


def test_cached_and_end_to_end_paths_agree_for_the_same_weights(tiny_text_encoder):
    enc = tiny_text_encoder("preset", pooling="mean")
    e2e = build_bert_rs_end_to_end(5, 7, enc.as_layer(), CFG, seed=3)
    cached = copy_head(e2e, build_bert_rs(5, 7, enc.dim, CFG, seed=9))
    users, items = np.array([0, 1, 2, 4], "int32"), np.array([3, 3, 6, 0], "int32")
    direct = np.asarray(e2e({"user_id": tf.constant(users), "item_id": tf.constant(items),
                             "review_text": tf.constant(TEXTS)}))
    vectors = enc.encode(TEXTS, batch_size=2, progress=False)
    via_cache = np.asarray(cached.predict_on_batch({"user_id": users, "item_id": items, "review_vector": vectors}))
    np.testing.assert_allclose(via_cache, direct, atol=1e-5)
