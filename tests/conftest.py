"""Fixtures every test folder shares: the optional real data, synthetic releases, and tiny text models.

Tiny text models (built offline from one backbone) serve the encoder, cache and every system's BERT tests.

From a single seeded ``BertBackbone`` (vocabulary of 40 tokens, 2 layers, hidden 16) the
session fixture ``tiny_text_models`` writes:

* a keras-hub preset folder (``save_to_preset``);
* a Hugging Face BERT checkpoint folder (``config.json`` + ``model.safetensors`` + ``vocab.txt`` +
  ``tokenizer_config.json``), by inverting keras-hub's own weight conversion;
* a TF-Hub-style preprocess SavedModel (``__call__``, ``tokenize``, ``bert_pack_inputs`` with the
  signatures of TF-Hub's BERT preprocessors, WordPiece from TensorFlow Text) and an encoder
  SavedModel returning ``pooled_output`` / ``sequence_output``.

Fixture names start with ``tiny_text`` / ``text_`` so they cannot clash with the poster tests'.
Tests reach the constants and helpers through the fixture (test modules cannot import conftest
under ``--import-mode=importlib``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hncf.data.synthetic import write_synthetic_movielens

TINY_TEXT_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "a", "about", "and", "boy", "cafe", "cat", "dog", "film", "his", "her", "movie", "the", "girl",
    "story", "of", "in", "space", "war", "love", "city", "night", "old", "man", "sea", "funny",
    "##s", "##ing", "##ed", "is", "to", "with", ".", ",", "!", "'",
]
TINY_TEXT_HUB_DEFAULT_SEQ_LEN = 16  # what the tiny preprocess SavedModel pads to when called directly


def tiny_bert_backbone(seed: int = 0):
    """The tiny BERT every text fixture derives from (deterministic for a given seed)."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    return keras_hub.models.BertBackbone(
        vocabulary_size=len(TINY_TEXT_VOCAB), num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=32, dropout=0.1,
    )


def write_hf_bert_checkpoint(backbone, vocab, directory: Path, do_lower_case=True, hidden_act="gelu_new",
                             model_type="bert") -> Path:
    """Write ``backbone`` as a Hugging Face BertModel folder (the inverse of keras-hub's converter)."""
    from safetensors.numpy import save_file

    directory.mkdir(parents=True, exist_ok=True)
    h = backbone.hidden_dim
    t = {}

    def put(key, value):
        t[key] = np.ascontiguousarray(np.asarray(value, dtype=np.float32))

    put("embeddings.word_embeddings.weight", backbone.get_layer("token_embedding").embeddings.numpy())
    put("embeddings.position_embeddings.weight",
        backbone.get_layer("position_embedding").position_embeddings.numpy())
    put("embeddings.token_type_embeddings.weight", backbone.get_layer("segment_embedding").embeddings.numpy())
    put("embeddings.LayerNorm.weight", backbone.get_layer("embeddings_layer_norm").gamma.numpy())
    put("embeddings.LayerNorm.bias", backbone.get_layer("embeddings_layer_norm").beta.numpy())
    for i in range(backbone.num_layers):
        block = backbone.get_layer(f"transformer_layer_{i}")
        attn = block._self_attention_layer
        p = f"encoder.layer.{i}."
        for name, dense in (("query", attn.query_dense), ("key", attn.key_dense), ("value", attn.value_dense)):
            # keras kernel [in, heads, head_dim] <- HF weight [out, in]
            put(p + f"attention.self.{name}.weight", dense.kernel.numpy().reshape(h, h).T)
            put(p + f"attention.self.{name}.bias", dense.bias.numpy().reshape(-1))
        put(p + "attention.output.dense.weight", attn.output_dense.kernel.numpy().reshape(h, h).T)
        put(p + "attention.output.dense.bias", attn.output_dense.bias.numpy())
        put(p + "attention.output.LayerNorm.weight", block._self_attention_layer_norm.gamma.numpy())
        put(p + "attention.output.LayerNorm.bias", block._self_attention_layer_norm.beta.numpy())
        put(p + "intermediate.dense.weight", block._feedforward_intermediate_dense.kernel.numpy().T)
        put(p + "intermediate.dense.bias", block._feedforward_intermediate_dense.bias.numpy())
        put(p + "output.dense.weight", block._feedforward_output_dense.kernel.numpy().T)
        put(p + "output.dense.bias", block._feedforward_output_dense.bias.numpy())
        put(p + "output.LayerNorm.weight", block._feedforward_layer_norm.gamma.numpy())
        put(p + "output.LayerNorm.bias", block._feedforward_layer_norm.beta.numpy())
    put("pooler.dense.weight", backbone.get_layer("pooled_dense").kernel.numpy().T)
    put("pooler.dense.bias", backbone.get_layer("pooled_dense").bias.numpy())
    save_file(t, str(directory / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["BertModel"], "model_type": model_type, "hidden_act": hidden_act,
        "vocab_size": backbone.vocabulary_size, "hidden_size": h, "num_hidden_layers": backbone.num_layers,
        "num_attention_heads": backbone.num_heads, "intermediate_size": backbone.intermediate_dim,
        "max_position_embeddings": backbone.max_sequence_length, "type_vocab_size": 2,
        "layer_norm_eps": 1e-12, "pad_token_id": 0,
    }
    (directory / "config.json").write_text(json.dumps(config, indent=1))
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": do_lower_case, "strip_accents": None, "tokenizer_class": "BertTokenizer"})
    )
    return directory


def write_tfhub_preprocess(vocab, directory: Path, with_pack: bool = True,
                           default_seq_length: int = TINY_TEXT_HUB_DEFAULT_SEQ_LEN) -> Path:
    """Write a TF-Hub-style BERT preprocess SavedModel (WordPiece from TensorFlow Text, lowercasing).

    It mirrors TF-Hub's ``bert_en_uncased_preprocess``: calling it maps a string batch to int32
    ``input_word_ids`` / ``input_mask`` / ``input_type_ids`` of ``default_seq_length``; with
    ``with_pack`` it also has ``tokenize`` (ragged word pieces) and
    ``bert_pack_inputs(segments, seq_length=)`` traced for a tensor ``seq_length``.
    """
    import tensorflow as tf
    import tensorflow_text as tf_text

    ids = {tok: i for i, tok in enumerate(vocab)}
    cls_id, sep_id, pad_id = ids["[CLS]"], ids["[SEP]"], ids["[PAD]"]

    def pack(segments, seq_length):
        tokens = segments[0]
        if tokens.ragged_rank > 1:
            tokens = tokens.merge_dims(-2, -1)
        tokens = tokens[:, : seq_length - 2]
        batch = tokens.nrows()
        packed = tf.concat([tf.RaggedTensor.from_tensor(tf.fill([batch, 1], cls_id)), tokens,
                            tf.RaggedTensor.from_tensor(tf.fill([batch, 1], sep_id))], axis=1)
        word_ids = packed.to_tensor(default_value=pad_id)
        word_ids = tf.pad(word_ids, [[0, 0], [0, seq_length - tf.shape(word_ids)[1]]], constant_values=pad_id)
        mask = tf.sequence_mask(packed.row_lengths(), seq_length, dtype=tf.int32)
        return {"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": tf.zeros_like(word_ids)}

    class Tokenize(tf.Module):
        def __init__(self):
            super().__init__()
            table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(tf.constant(vocab), tf.range(len(vocab), dtype=tf.int64)),
                default_value=-1,
            )
            self.tokenizer = tf_text.BertTokenizer(table, lower_case=True, token_out_type=tf.int64)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, sentences):
            return tf.cast(self.tokenizer.tokenize(sentences), tf.int32)

    class BertPackInputs(tf.Module):
        def __init__(self):
            super().__init__()
            # TF-Hub's also traces ragged rank 1 and two segments; one segment of word pieces
            # (ragged rank 2, what ``tokenize`` returns) is all the loader uses.
            self.__call__.get_concrete_function(
                [tf.RaggedTensorSpec([None, None, None], tf.int32)], seq_length=tf.TensorSpec([], tf.int32)
            )

        @tf.function
        def __call__(self, segments, seq_length):
            return pack(segments, seq_length)

    class Preprocess(tf.Module):
        def __init__(self):
            super().__init__()
            self._tokenize = Tokenize()
            if with_pack:
                self.tokenize = self._tokenize
                self.bert_pack_inputs = BertPackInputs()

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, sentences):
            return pack([self._tokenize(sentences)], tf.constant(default_seq_length))

    tf.saved_model.save(Preprocess(), str(directory))
    return directory


def write_tfhub_encoder(backbone, directory: Path) -> Path:
    """Write a TF-Hub-style BERT encoder SavedModel around a keras-hub ``backbone``.

    Called with the preprocess dict, it returns ``pooled_output`` [batch, H],
    ``sequence_output`` [batch, seq, H] and ``default``, like TF-Hub's BERT encoders.
    """
    import tensorflow as tf

    class Encoder(tf.Module):
        def __init__(self):
            super().__init__()
            self.backbone = backbone

        @tf.function(input_signature=[{k: tf.TensorSpec([None, None], tf.int32)
                                        for k in ("input_word_ids", "input_mask", "input_type_ids")}])
        def __call__(self, inputs):
            out = self.backbone({"token_ids": inputs["input_word_ids"], "segment_ids": inputs["input_type_ids"],
                                 "padding_mask": inputs["input_mask"]}, training=False)
            return {"pooled_output": out["pooled_output"], "sequence_output": out["sequence_output"],
                    "default": out["pooled_output"]}

    tf.saved_model.save(Encoder(), str(directory))
    return directory


@pytest.fixture(scope="session")
def tiny_text_preset(tmp_path_factory):
    """``(folder, backbone)``: the tiny backbone and its keras-hub preset folder (cheap to build)."""
    import keras_hub

    folder = tmp_path_factory.mktemp("tiny_text_preset") / "preset"
    backbone = tiny_bert_backbone()
    backbone.save_to_preset(str(folder))
    keras_hub.tokenizers.BertTokenizer(vocabulary=TINY_TEXT_VOCAB, lowercase=True).save_to_preset(str(folder))
    return folder, backbone


@pytest.fixture(scope="session")
def tiny_text_models(tmp_path_factory, tiny_text_preset):
    """Paths of the tiny keras-hub preset, HF checkpoints and TF-Hub SavedModels (one shared backbone)."""
    root = tmp_path_factory.mktemp("tiny_text_models")
    preset, backbone = tiny_text_preset
    return SimpleNamespace(
        root=root,
        vocab=list(TINY_TEXT_VOCAB),
        hub_default_seq_len=TINY_TEXT_HUB_DEFAULT_SEQ_LEN,
        make_backbone=tiny_bert_backbone,
        backbone=backbone,  # shared: tests must not mutate it (build layers on copies)
        preset=preset,
        hf_uncased=write_hf_bert_checkpoint(backbone, TINY_TEXT_VOCAB, root / "hf_uncased"),
        hf_cased=write_hf_bert_checkpoint(backbone, TINY_TEXT_VOCAB, root / "hf_cased", do_lower_case=False),
        hf_exact_gelu=write_hf_bert_checkpoint(backbone, TINY_TEXT_VOCAB, root / "hf_gelu", hidden_act="gelu"),
        hub_encoder=write_tfhub_encoder(backbone, root / "hub_encoder"),
        hub_preprocess=write_tfhub_preprocess(TINY_TEXT_VOCAB, root / "hub_preprocess"),
        hub_preprocess_nopack=write_tfhub_preprocess(TINY_TEXT_VOCAB, root / "hub_preprocess_nopack",
                                                     with_pack=False),
    )


@pytest.fixture(scope="session")
def tiny_text_encoder(tiny_text_models):
    """``tiny_text_encoder(source, pooling=, normalize=, sequence_length=)``, each loaded once per session.

    ``source`` names a folder of ``tiny_text_models`` (``preset``, ``hf_uncased``, ``hf_cased``,
    ``hf_exact_gelu``) or is ``tfhub`` / ``tfhub_nopack``. Loading and tracing dominate the cost
    of these tests, so encoders are shared; tests must not change them.
    """
    from hncf.encoders.text import load_text_encoder

    loaded = {}

    def get(source="preset", pooling="cls", normalize=False, sequence_length=12):
        key = (source, pooling, normalize, sequence_length)
        if key not in loaded:
            if source.startswith("tfhub"):
                pre = (tiny_text_models.hub_preprocess_nopack if source == "tfhub_nopack"
                       else tiny_text_models.hub_preprocess)
                spec = f"tfhub:{tiny_text_models.hub_encoder}|{pre}"
            else:
                spec = str(getattr(tiny_text_models, source))
            loaded[key] = load_text_encoder(spec, pooling=pooling, sequence_length=sequence_length,
                                            normalize=normalize)
        return loaded[key]

    return get


@pytest.fixture
def text_tfhub_cache(tmp_path, monkeypatch, tiny_text_models):
    """A ``$TFHUB_CACHE_DIR`` holding the tiny SavedModels under the sha1 of the default TF-Hub URLs."""
    import hashlib

    from hncf.encoders.text import DEFAULT_TFHUB_ENCODER, DEFAULT_TFHUB_PREPROCESS

    cache = tmp_path / "tfhub_cache"
    for url, src in ((DEFAULT_TFHUB_ENCODER, tiny_text_models.hub_encoder),
                     (DEFAULT_TFHUB_PREPROCESS, tiny_text_models.hub_preprocess)):
        shutil.copytree(src, cache / hashlib.sha1(url.encode("utf-8")).hexdigest())
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    return cache


REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$HNCF_SHARED_DATA`` if set, else ``<repo>/../shared/data``."""
    env = os.environ.get("HNCF_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture
def real_dataset():
    """Return a function giving the shared folder of a dataset, skipping when it is absent."""

    def get(name: str) -> Path:
        d = shared_data_dir() / name
        if not d.is_dir():
            pytest.skip(f"real-data folder {d} is absent (set HNCF_SHARED_DATA to the shared data folder)")
        return d

    return get


@pytest.fixture
def synthetic_release(tmp_path):
    """Return a function that writes a synthetic release in the real format and gives its folder."""

    def make(fmt: str, **kwargs) -> Path:
        return write_synthetic_movielens(tmp_path / "releases" / fmt, fmt, **kwargs)

    return make
