"""Frozen TF-Hub SavedModel pairs as cache-only text encoders (hncf.encoders.tfhub_source)."""

import hashlib

import numpy as np
import pytest
import tensorflow as tf

from hncf.encoders.text import load_text_encoder
from hncf.encoders.text_base import directory_hash
from hncf.encoders.tfhub_source import (
    DEFAULT_TFHUB_ENCODER,
    DEFAULT_TFHUB_PREPROCESS,
    TFHubTextEncoder,
    parse_tfhub_spec,
)

SEQ = 12  # the text_encoder fixture's sequence length (the tiny backbone allows 32)


def test_tfhub_local_savedmodels_match_keras_hub_and_numpy(tiny_text_models, text_encoder, texts):
    pre = tf.saved_model.load(str(tiny_text_models.hub_preprocess))
    enc = tf.saved_model.load(str(tiny_text_models.hub_encoder))
    inputs = pre.bert_pack_inputs([pre.tokenize(tf.constant(texts))], seq_length=tf.constant(SEQ))
    out = enc(inputs)
    m = inputs["input_mask"].numpy()[:, :, None].astype("float32")
    by_hand = {"cls": out["pooled_output"].numpy(),
               "mean": (out["sequence_output"].numpy() * m).sum(1) / m.sum(1)}
    for pooling in ("cls", "mean"):
        hub_enc = text_encoder("tfhub", pooling=pooling)
        assert isinstance(hub_enc, TFHubTextEncoder) and hub_enc.dim == 16
        assert hub_enc.name == (f"tfhub:dir-{directory_hash(tiny_text_models.hub_encoder)[:16]}"
                                f"|dir-{directory_hash(tiny_text_models.hub_preprocess)[:16]}:{pooling}:{SEQ}")
        got = hub_enc.encode(texts, batch_size=4, progress=False)
        np.testing.assert_allclose(got, by_hand[pooling], atol=1e-5)
        # Same weights, another tokenizer implementation (TensorFlow Text's BertTokenizer): same vectors.
        np.testing.assert_allclose(got, text_encoder(pooling=pooling).encode(texts, progress=False), atol=1e-5)


def test_tfhub_url_handles_load_offline_from_the_cache_dir(text_encoder, text_tfhub_cache, texts):
    enc = load_text_encoder("tfhub:", pooling="mean", sequence_length=SEQ, normalize=True)
    assert enc.encoder_handle == DEFAULT_TFHUB_ENCODER and enc.preprocess_handle == DEFAULT_TFHUB_PREPROCESS
    assert enc.name == f"tfhub:{DEFAULT_TFHUB_ENCODER}|{DEFAULT_TFHUB_PREPROCESS}:mean:{SEQ}:l2"
    assert (text_tfhub_cache / hashlib.sha1(DEFAULT_TFHUB_ENCODER.encode()).hexdigest()).is_dir()
    np.testing.assert_allclose(enc.encode(texts, progress=False),
                               text_encoder(pooling="mean", normalize=True).encode(texts, progress=False),
                               atol=1e-5)


def test_tfhub_spec_parsing():
    assert parse_tfhub_spec("tfhub:") == (DEFAULT_TFHUB_ENCODER, DEFAULT_TFHUB_PREPROCESS)
    assert parse_tfhub_spec("tfhub:https://x/enc/1") == ("https://x/enc/1", DEFAULT_TFHUB_PREPROCESS)
    assert parse_tfhub_spec("tfhub:|/m/pre") == (DEFAULT_TFHUB_ENCODER, "/m/pre")
    assert parse_tfhub_spec("tfhub: /m/enc | /m/pre ") == ("/m/enc", "/m/pre")
    with pytest.raises(ValueError, match="a TF-Hub spec starts with 'tfhub:', got 'bert_base_en_uncased'"):
        parse_tfhub_spec("bert_base_en_uncased")


def test_tfhub_is_cache_only_and_checks_sequence_length(tiny_text_models, text_encoder, tmp_path, texts):
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
    short = [t for t in texts if len(t.split()) < SEQ - 4]  # untruncated at either length
    np.testing.assert_allclose(fixed.encode(short, progress=False),
                               text_encoder(pooling="mean").encode(short, progress=False), atol=1e-5)
    with pytest.raises(OSError, match="could not load the TF-Hub encoder model.*TFHUB_CACHE_DIR"):
        load_text_encoder(f"tfhub:{tmp_path / 'missing'}|{tiny_text_models.hub_preprocess}")

