"""The Keras text layer BertTextEmbedding (hncf.encoders.text_layer): tokenizing, pooling, saving, training."""

import json
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from hncf.encoders.text_layer import BertTextEmbedding, pool_outputs

SEQ = 12  # the text_encoder fixture's sequence length (the tiny backbone allows 32)


def test_truncation_keeps_the_first_tokens(text_encoder):
    enc = text_encoder(pooling="mean")
    cfg = enc.layer.get_config()
    cfg["sequence_length"] = 5  # [CLS] + 3 word pieces + [SEP]
    short = BertTextEmbedding.from_config(cfg)
    short.backbone.set_weights(enc.layer.backbone.get_weights())
    pair = tf.constant(["the cat the dog and the girl", "the cat the"])
    ids = short.tokenize(pair)
    assert ids["token_ids"].shape == (2, 5) and ids["padding_mask"].numpy().tolist() == [[1] * 5] * 2
    np.testing.assert_array_equal(ids["token_ids"][0], ids["token_ids"][1])
    long, cut = short(pair).numpy()
    np.testing.assert_allclose(long, cut, atol=1e-6)
    long2, cut2 = enc.encode(pair.numpy().astype(str), progress=False)
    assert np.abs(long2 - cut2).max() > 1e-4  # with room for every piece they differ


def test_normalize_gives_unit_vectors_in_the_same_direction(text_encoder, texts):
    raw = text_encoder(pooling="mean").encode(texts, progress=False)
    unit = text_encoder(pooling="mean", normalize=True).encode(texts, progress=False)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)


def test_layer_in_saved_model_reloads_safe_mode_and_matches_encode(tiny_text_models, text_encoder, tmp_path, texts):
    enc = text_encoder(pooling="mean", normalize=True)
    layer = enc.as_layer()
    assert isinstance(layer, BertTextEmbedding) and not layer.trainable_weights
    inp = keras.Input(shape=(), dtype="string", name="movie_text")
    vec = layer(inp)
    assert tuple(vec.shape) == (None, 16)
    out = keras.layers.Dense(3, name="head")(vec)
    model = keras.Model(inp, [vec, out])
    x = tf.constant(texts)
    before = [t.numpy() for t in model(x)]  # eager calls: same layers, no whole-model trace to pay for
    path = tmp_path / "text_model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    after = [t.numpy() for t in reloaded(x)]
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    # The cached path (encode, batched by length) and the end-to-end path agree.
    np.testing.assert_allclose(enc.encode(texts, batch_size=2, progress=False), after[0], atol=1e-5)
    cfg = reloaded.get_layer(layer.name).get_config()
    assert cfg["vocabulary"] == tiny_text_models.vocab and cfg["lowercase"] is True
    assert (cfg["sequence_length"], cfg["pooling"], cfg["normalize"]) == (SEQ, "mean", True)
    assert cfg["backbone"]["config"]["hidden_dim"] == 16


def test_layer_eager_call_config_round_trip_and_fixed_padding(text_encoder, texts):
    enc = text_encoder()  # cls pooling
    x = tf.constant(texts)
    eager = enc.as_layer()(x).numpy()  # an eager call still tokenizes in-graph
    np.testing.assert_allclose(enc.encode(texts, progress=False), eager, atol=1e-5)
    cfg = enc.layer.get_config()
    cfg["pad_to_sequence_length"] = True
    fixed = BertTextEmbedding.from_config(json.loads(json.dumps(cfg)))  # the config is plain JSON
    fixed.backbone.set_weights(enc.layer.backbone.get_weights())
    assert fixed.tokenize(x)["token_ids"].shape == (len(texts), SEQ)
    np.testing.assert_allclose(fixed(x).numpy(), eager, atol=1e-5)
    np.testing.assert_allclose(fixed(x[:, None]).numpy(), eager, atol=1e-5)  # (batch, 1) input too


def test_frozen_layer_ignores_training_and_trainable_copy_learns(text_encoder, texts):
    enc = text_encoder()  # cls pooling: every weight, the pooler too, gets a gradient
    x = tf.constant(texts)
    frozen = enc.as_layer()
    np.testing.assert_array_equal(frozen(x, training=True).numpy(), frozen(x, training=False).numpy())
    assert not frozen.supports_jit  # keeps fit(jit_compile="auto") off XLA, which has no string ops

    layer = enc.as_layer(trainable=True)
    assert len(layer.trainable_weights) == len(enc.layer.backbone.weights)
    before = [w.copy() for w in enc.layer.backbone.get_weights()]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(x, training=True)))
    grads = tape.gradient(loss, layer.trainable_weights)
    assert all(g is not None for g in grads)
    keras.optimizers.SGD(0.1).apply_gradients(zip(grads, layer.trainable_weights))
    assert np.abs(layer(x).numpy() - frozen(x).numpy()).max() > 1e-4
    # Fine-tuning the copy leaves the encoder behind the cache untouched.
    for a, b in zip(enc.layer.backbone.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(enc.encode(texts, progress=False), frozen(x).numpy(), atol=1e-5)


def test_a_trainable_mean_pooled_copy_trains_only_what_it_reads(text_encoder, texts):
    enc = text_encoder(pooling="mean")
    layer = enc.as_layer(trainable=True)
    pooler = {w.path for w in layer.backbone.get_layer("pooled_dense").weights}
    assert pooler and not pooler & {w.path for w in layer.trainable_weights}
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(tf.constant(texts), training=True)))
    assert all(g is not None for g in tape.gradient(loss, layer.trainable_weights))



def test_layer_refuses_bad_arguments(tiny_text_models):
    with pytest.raises(ValueError, match="vocabulary has 41 tokens but the backbone embeds only 40"):
        BertTextEmbedding(vocabulary=tiny_text_models.vocab + ["extra"], backbone=tiny_text_models.backbone,
                          sequence_length=SEQ)
    with pytest.raises(ValueError, match="unknown hidden_act 'relu'"):
        BertTextEmbedding(vocabulary=tiny_text_models.vocab, backbone=tiny_text_models.backbone,
                          sequence_length=SEQ, hidden_act="relu")
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        BertTextEmbedding(vocabulary=tiny_text_models.vocab, backbone=tiny_text_models.backbone, pooling="max")
    with pytest.raises(ValueError, match="exceeds the backbone's max_sequence_length 32"):
        BertTextEmbedding(vocabulary=tiny_text_models.vocab, backbone=tiny_text_models.backbone, sequence_length=33)
    with pytest.raises(TypeError, match="backbone must be a keras_hub.models.BertBackbone, got Dense"):
        BertTextEmbedding(vocabulary=tiny_text_models.vocab, backbone=keras.layers.Dense(2))


def test_pool_outputs_against_hand_computed_values():
    pooled = tf.constant([[3.0, 4.0], [1.0, 0.0]])
    sequence = tf.constant([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]],
                            [[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    mask = tf.constant([[1, 1, 0], [1, 0, 0]])  # the 100s are padding and must not count
    np.testing.assert_allclose(pool_outputs(pooled, sequence, mask, "cls", False), [[3, 4], [1, 0]])
    np.testing.assert_allclose(pool_outputs(pooled, sequence, mask, "cls", True), [[0.6, 0.8], [1, 0]], atol=1e-7)
    np.testing.assert_allclose(pool_outputs(pooled, sequence, mask, "mean", False), [[2, 3], [2, 0]])
    s = np.sqrt(13.0)
    np.testing.assert_allclose(pool_outputs(pooled, sequence, mask, "mean", True), [[2 / s, 3 / s], [1, 0]],
                               atol=1e-7)


def _set_layer_module(archive, new_archive, module: str) -> int:
    """Copy a .keras file, rewriting the ``module`` of every BertTextEmbedding config; returns how many."""
    with zipfile.ZipFile(archive) as src:
        config = json.loads(src.read("config.json"))
        found = []

        def walk(node):
            if isinstance(node, dict):
                if node.get("class_name") == "BertTextEmbedding":
                    node["module"] = module
                    found.append(node)
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(config)
        with zipfile.ZipFile(new_archive, "w") as dst:
            for info in src.infolist():
                data = json.dumps(config).encode() if info.filename == "config.json" else src.read(info.filename)
                dst.writestr(info, data)
    return len(found)


def test_registered_name_is_stable_and_models_saved_before_the_split_still_load(text_encoder, tmp_path, texts):
    assert keras.saving.get_registered_name(BertTextEmbedding) == "hncf>BertTextEmbedding"
    from hncf.encoders.text import BertTextEmbedding as via_old_path

    assert via_old_path is BertTextEmbedding
    inp = keras.Input(shape=(), dtype="string", name="movie_text")
    model = keras.Model(inp, text_encoder(pooling="mean").as_layer()(inp))
    path = tmp_path / "new.keras"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        saved = json.loads(z.read("config.json"))["config"]["layers"][1]
    assert saved["registered_name"] == "hncf>BertTextEmbedding" and saved["module"] == "hncf.encoders.text_layer"
    # Files written before the split name the old module; they must reload, in safe mode, unchanged.
    old = tmp_path / "saved_before_the_split.keras"
    assert _set_layer_module(path, old, "hncf.encoders.text") == 1
    want = model(tf.constant(texts)).numpy()
    for p in (path, old):
        np.testing.assert_array_equal(keras.models.load_model(p, safe_mode=True)(tf.constant(texts)).numpy(), want)
