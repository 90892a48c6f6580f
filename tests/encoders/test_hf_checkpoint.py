"""Hugging Face BERT checkpoints read as Hugging Face reads them (hncf.encoders.hf_checkpoint)."""

import json
import shutil
from math import erf, sqrt

import numpy as np
import pytest
import tensorflow as tf

from hncf.encoders.hf_checkpoint import hf_tokenizer_settings, is_hf_checkpoint
from hncf.encoders.text import load_text_encoder


def test_hf_checkpoint_gives_the_same_vectors_as_the_keras_hub_preset(text_encoder, texts):
    hf, kh = text_encoder("hf_uncased", pooling="mean"), text_encoder(pooling="mean")
    assert hf.name.startswith("keras-hub:dir-") and hf.name != kh.name
    np.testing.assert_allclose(hf.encode(texts, progress=False), kh.encode(texts, progress=False), atol=1e-5)


def test_hf_tokenizer_config_controls_lowercasing_and_accents(text_encoder):
    uncased, cased = text_encoder("hf_uncased", pooling="mean"), text_encoder("hf_cased", pooling="mean")
    assert uncased.layer.lowercase and uncased.layer.strip_accents  # HF: strip_accents=None follows lowercase
    assert not cased.layer.lowercase and not cased.layer.strip_accents
    u = uncased.encode(["Dog Café", "dog cafe"], progress=False)
    np.testing.assert_allclose(u[0], u[1], atol=1e-6)
    c = cased.encode(["Dog Café", "dog cafe"], progress=False)
    assert np.abs(c[0] - c[1]).max() > 1e-4  # "Dog" and "Café" are [UNK] to the cased tokenizer


def test_hf_exact_gelu_is_applied_and_kept_in_the_config(text_encoder, texts):
    approx, exact = text_encoder("hf_uncased", pooling="mean"), text_encoder("hf_exact_gelu", pooling="mean")
    assert approx.layer.hidden_act == "gelu_approximate" and exact.layer.hidden_act == "gelu"
    x = np.linspace(-4, 4, 41).astype("float32")
    want = np.array([0.5 * v * (1 + erf(v / sqrt(2))) for v in x], dtype="float32")
    copy = exact.as_layer()  # rebuilt from get_config: the activation must come back exact
    for layer in (exact.layer, copy):
        act = layer.backbone.transformer_layers[0]._feedforward_intermediate_dense.activation
        np.testing.assert_allclose(np.asarray(act(tf.constant(x))), want, atol=1e-6)
    a, e = approx.encode(texts, progress=False), exact.encode(texts, progress=False)
    assert 1e-7 < np.abs(a - e).max() < 1e-2  # close, not equal
    np.testing.assert_allclose(copy(tf.constant(texts)).numpy(), e, atol=1e-5)


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



def _hf_folder(directory, config=None, tokenizer=None, vocab=("[PAD]", "[UNK]", "[CLS]", "[SEP]", "dog")):
    """A Hugging Face folder with only the files the settings reader looks at (no weights needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"model_type": "bert", **(config or {})}))
    if vocab is not None:
        (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    if tokenizer is not None:
        (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    return directory


def test_settings_follow_hugging_face_defaults_and_overrides(tmp_path):
    defaults = hf_tokenizer_settings(_hf_folder(tmp_path / "defaults"))  # no tokenizer_config, no hidden_act
    assert defaults == {"vocabulary": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "dog"], "lowercase": True,
                        "strip_accents": True, "split_on_cjk": True, "hidden_act": "gelu"}
    keep_accents = hf_tokenizer_settings(_hf_folder(
        tmp_path / "keep", config={"hidden_act": "gelu_pytorch_tanh"},
        tokenizer={"do_lower_case": True, "strip_accents": False, "tokenize_chinese_chars": False}))
    assert (keep_accents["lowercase"], keep_accents["strip_accents"], keep_accents["split_on_cjk"],
            keep_accents["hidden_act"]) == (True, False, False, "gelu_approximate")


def test_settings_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no_vocab: no vocab.txt"):
        hf_tokenizer_settings(_hf_folder(tmp_path / "no_vocab", vocab=None))
    with pytest.raises(ValueError, match=r"config.json: hidden_act 'relu' is not supported"):
        hf_tokenizer_settings(_hf_folder(tmp_path / "relu", config={"hidden_act": "relu"}))
    bad_tok = _hf_folder(tmp_path / "bad_tok")
    (bad_tok / "tokenizer_config.json").write_text('{"do_lower_case": tru}')
    with pytest.raises(ValueError, match=r"tokenizer_config.json: not valid JSON \(line 1"):
        hf_tokenizer_settings(bad_tok)


def test_is_hf_checkpoint_tells_hugging_face_from_keras_hub_folders(tiny_text_models, tmp_path):
    assert is_hf_checkpoint(tiny_text_models.hf_uncased)
    assert not is_hf_checkpoint(tiny_text_models.preset)  # keras-hub's config.json has no model_type
    assert not is_hf_checkpoint(tmp_path)
