"""Text encoders for item text: one interface over three real sources of BERT weights.

``load_text_encoder(spec)`` picks the source from a spec string:

* a keras-hub preset name (default ``bert_base_en_uncased``, the paper's BERT-base uncased
  L-12 H-768 A-12) or any keras-hub handle (``kaggle://...``, ``hf://...``);
* a local directory: a keras-hub preset saved with ``save_to_preset``, or a Hugging Face BERT
  checkpoint (``config.json`` + ``model.safetensors`` + ``vocab.txt``, e.g. the files of
  sentence-transformers all-MiniLM-L6-v2), which keras-hub converts on load;
* ``tfhub:<encoder handle>|<preprocess handle>`` (either part may be empty for the paper's
  defaults): a frozen TF-Hub SavedModel pair loaded with ``hub.load``.

Every encoder has a stable ``name`` (the feature-cache key), ``dim`` and
``encode(texts) -> float32 [n, dim]``. The keras-hub sources run through
:class:`BertTextEmbedding`, the registered Keras layer that the end-to-end HNCF model uses, so
the cached vectors and the end-to-end path compute the same function. TF-Hub encoders are
cache-only (see :meth:`TFHubTextEncoder.as_layer`).

Pooling: ``"cls"`` is BERT's pooled output (tanh of a dense layer on the [CLS] state, which is
TF-Hub's ``pooled_output`` and keras-hub's ``pooled_output``); ``"mean"`` is the mean of the last
hidden states over real tokens ([CLS] and [SEP] included, padding excluded), as
sentence-transformers computes it. ``normalize=True`` L2-normalises the result.

Speed: ``encode`` sorts texts by length and pads each batch only to its longest text (padding is
masked, so vectors do not depend on the batch). On short item texts this is about ten times
faster than padding every text to ``sequence_length``.

Fidelity: Hugging Face checkpoints are tokenized as Hugging Face does (lowercasing and accent
stripping from ``tokenizer_config.json``) and run with the activation their ``config.json``
names (exact GELU for ``"gelu"``; keras-hub alone would use the tanh approximation), so
all-MiniLM-L6-v2 reproduces sentence-transformers' vectors to about 1e-7.
"""

from __future__ import annotations

import abc
import hashlib
import json
import os
import threading
import weakref
from pathlib import Path
from typing import Sequence

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm.auto import tqdm

__all__ = [
    "DEFAULT_PRESET",
    "DEFAULT_TFHUB_ENCODER",
    "DEFAULT_TFHUB_PREPROCESS",
    "POOLINGS",
    "HIDDEN_ACTS",
    "BertTextEmbedding",
    "TextEncoder",
    "encode_in_batches",
    "KerasHubTextEncoder",
    "TFHubTextEncoder",
    "load_text_encoder",
    "check_texts",
    "directory_hash",
]

DEFAULT_PRESET = "bert_base_en_uncased"
DEFAULT_TFHUB_ENCODER = "https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4"
DEFAULT_TFHUB_PREPROCESS = "https://tfhub.dev/tensorflow/bert_en_uncased_preprocess/3"
TFHUB_PREFIX = "tfhub:"
POOLINGS = ("cls", "mean")
HIDDEN_ACTS = ("gelu_approximate", "gelu")
# Hugging Face ``hidden_act`` -> the feed-forward activation of keras-hub's BERT blocks.
_HF_HIDDEN_ACTS = {"gelu": "gelu", "gelu_new": "gelu_approximate", "gelu_pytorch_tanh": "gelu_approximate",
                   "gelu_fast": "gelu_approximate"}
_HASH_CHUNK = 1 << 20


def _check_pooling(pooling: str) -> None:
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; expected one of {POOLINGS}")


def _check_sequence_length(sequence_length: int, max_length: int | None = None) -> None:
    # [CLS] and [SEP] take two positions; at least one is left for the text itself.
    if int(sequence_length) != sequence_length or sequence_length < 3:
        raise ValueError(f"sequence_length must be an integer >= 3, got {sequence_length!r}")
    if max_length is not None and sequence_length > max_length:
        raise ValueError(
            f"sequence_length {sequence_length} exceeds the backbone's max_sequence_length {max_length}"
        )


def check_texts(texts, ids=None) -> np.ndarray:
    """Validate a batch of item texts and return them as a 1-D object array of ``str``.

    Raises ``ValueError`` naming the first bad position (and its item id when ``ids`` is given)
    for a missing (None/NaN), non-string, empty or whitespace-only text.
    """
    arr = np.asarray(texts, dtype=object)
    if arr.ndim == 0:
        raise ValueError("texts must be a sequence of strings, got a single value")
    if arr.ndim != 1:
        raise ValueError(f"texts must be one-dimensional, got shape {arr.shape}")
    if ids is not None:
        ids = np.asarray(ids)
        if len(ids) != len(arr):
            raise ValueError(f"got {len(arr)} texts but {len(ids)} ids")

    def where(i: int) -> str:
        if ids is None:
            return f"text at index {i}"
        item = ids[i].item() if isinstance(ids[i], np.generic) else ids[i]  # plain repr: 'm3', not np.str_('m3')
        return f"text at index {i} (item id {item!r})"

    if len(arr) == 0:
        return arr
    missing = pd.isna(arr)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise ValueError(f"{where(i)} is missing (None/NaN); {int(missing.sum())} missing in all")
    if pd.api.types.infer_dtype(arr, skipna=False) != "string":
        # Only on the error path: find the first non-string to name it.
        is_str = np.frompyfunc(lambda t: isinstance(t, str), 1, 1)(arr).astype(bool)
        i = int(np.flatnonzero(~is_str)[0])
        raise ValueError(f"{where(i)} is a {type(arr[i]).__name__}, not a str: {arr[i]!r}")
    blank = (pd.Series(arr, dtype=object).str.strip().str.len() == 0).to_numpy()
    if blank.any():
        i = int(np.flatnonzero(blank)[0])
        raise ValueError(
            f"{where(i)} is empty or whitespace-only; {int(blank.sum())} such text(s) in all"
        )
    return arr


def directory_hash(path: str | os.PathLike) -> str:
    """sha1 over the relative paths and bytes of every non-hidden file under ``path``.

    Used in encoder names so that vectors cached for one checkpoint are never reused for a
    different one that happens to live in the same folder.
    """
    root = Path(path)
    h = hashlib.sha1()
    files = sorted(
        p for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    for p in files:
        h.update(p.relative_to(root).as_posix().encode("utf-8") + b"\0")
        with open(p, "rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def pool_outputs(pooled, sequence, padding_mask, pooling: str, normalize: bool):
    """One vector per text from BERT outputs: the pooled [CLS] output, or the mean over real tokens.

    ``padding_mask`` is 1 for real tokens; padding never enters the mean. ``normalize`` L2-normalises.
    """
    if pooling == "cls":
        vectors = pooled
    else:
        mask = tf.cast(padding_mask, sequence.dtype)[:, :, None]
        vectors = tf.reduce_sum(sequence * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1e-9)
    if normalize:
        vectors = vectors / tf.maximum(tf.norm(vectors, axis=-1, keepdims=True), 1e-12)
    return vectors


# Traced tokenizer functions shared by layers with identical settings: building the WordPiece
# model and tracing keras-hub's pretokenizer costs about half a second per layer otherwise, and
# copies of one encoder (as_layer, reloads) all tokenize the same way. Weak values: an entry lives
# as long as some layer uses it.
_TOKENIZE_FNS: "weakref.WeakValueDictionary[tuple, object]" = weakref.WeakValueDictionary()
_TOKENIZE_LOCK = threading.Lock()


def _shared_tokenize_fn(vocabulary: list[str], lowercase: bool, strip_accents: bool, split_on_cjk: bool):
    """``(tokenize_fn, (cls_id, sep_id, pad_id))`` for a WordPiece vocabulary and flags, built once."""
    import keras_hub

    digest = hashlib.sha1("\n".join(vocabulary).encode("utf-8")).hexdigest()
    key = (digest, len(vocabulary), lowercase, strip_accents, split_on_cjk)
    with _TOKENIZE_LOCK:
        fn = _TOKENIZE_FNS.get(key)
        if fn is None:
            tokenizer = keras_hub.tokenizers.BertTokenizer(
                vocabulary=vocabulary, lowercase=lowercase, strip_accents=strip_accents,
                split_on_cjk=split_on_cjk,
            )
            fn = tf.function(tokenizer.tokenize, input_signature=[tf.TensorSpec([None], tf.string)],
                             autograph=False)
            fn.special_ids = (int(tokenizer.cls_token_id), int(tokenizer.sep_token_id),
                              int(tokenizer.pad_token_id))
            _TOKENIZE_FNS[key] = fn
    return fn, fn.special_ids


@keras.saving.register_keras_serializable(package="hncf")
class BertTextEmbedding(keras.layers.Layer):
    """Raw strings ``(batch,)`` -> one vector per string, through a BERT backbone.

    Tokenizes inside the graph with keras-hub's ``BertTokenizer`` (WordPiece), packs
    ``[CLS] tokens [SEP]`` truncated to ``sequence_length``, runs a
    ``keras_hub.models.BertBackbone`` and pools (``"cls"``: BERT's pooled output; ``"mean"``:
    masked mean of the last hidden states), optionally L2-normalised.

    Batches are padded to their longest text (at most ``sequence_length``) unless
    ``pad_to_sequence_length=True``; padding is masked, so the output of a text does not depend
    on the rest of its batch. A frozen layer (``trainable=False``) always runs the backbone in
    inference mode, so its vectors equal the cached ones even inside ``fit``.

    ``hidden_act`` is the feed-forward activation of the transformer blocks: keras-hub builds
    BERT with the tanh approximation of GELU (``"gelu_approximate"``, as the original TF BERT);
    checkpoints trained with the exact GELU (Hugging Face ``"hidden_act": "gelu"``, e.g. the
    sentence-transformers models) need ``"gelu"`` to reproduce their vectors (the difference is
    about 1e-4 per coordinate).

    ``get_config`` carries the vocabulary, the tokenizer flags and the backbone's config, so a
    model containing the layer saves to ``.keras`` and reloads with ``safe_mode=True``.
    A backbone passed in is used as is (not copied). Requires the TensorFlow backend
    (tokenization uses TensorFlow Text).
    """

    def __init__(self, vocabulary: Sequence[str], backbone, sequence_length: int = 128,
                 pooling: str = "cls", lowercase: bool = True, strip_accents: bool = False,
                 split_on_cjk: bool = True, normalize: bool = False,
                 pad_to_sequence_length: bool = False, hidden_act: str = "gelu_approximate", **kwargs):
        super().__init__(**kwargs)
        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(
                f"BertTextEmbedding needs the TensorFlow backend (TensorFlow Text tokenizes in the "
                f"graph); the Keras backend is {keras.backend.backend()!r}"
            )
        import keras_hub

        _check_pooling(pooling)
        if hidden_act not in HIDDEN_ACTS:
            raise ValueError(f"unknown hidden_act {hidden_act!r}; expected one of {HIDDEN_ACTS}")
        if isinstance(backbone, dict):
            backbone = keras.saving.deserialize_keras_object(backbone)
        if not isinstance(backbone, keras_hub.models.BertBackbone):
            raise TypeError(f"backbone must be a keras_hub.models.BertBackbone, got {type(backbone).__name__}")
        _check_sequence_length(sequence_length, backbone.max_sequence_length)
        vocabulary = [str(t) for t in vocabulary]
        if len(vocabulary) > backbone.vocabulary_size:
            raise ValueError(
                f"vocabulary has {len(vocabulary)} tokens but the backbone embeds only "
                f"{backbone.vocabulary_size}"
            )
        self.vocabulary = tuple(vocabulary)
        self.sequence_length = int(sequence_length)
        self.pooling = pooling
        self.lowercase = bool(lowercase)
        self.strip_accents = bool(strip_accents)
        self.split_on_cjk = bool(split_on_cjk)
        self.normalize = bool(normalize)
        self.pad_to_sequence_length = bool(pad_to_sequence_length)
        self.hidden_act = hidden_act
        self.backbone = backbone
        self.backbone.trainable = self.trainable
        if hidden_act == "gelu":
            # BertBackbone hard-wires the approximate GELU and its config cannot say otherwise, so
            # the choice lives in this layer's config and is re-applied on every rebuild.
            for block in backbone.transformer_layers:
                block._feedforward_intermediate_dense.activation = keras.activations.gelu
        # The tokenizer is reached only through a tf.function: Keras' saver walks the layer's
        # attributes, and a tokenizer found there would save its vocabulary as an asset whose
        # reload keras-hub refuses in safe mode. The vocabulary travels in get_config instead.
        # Running it as a tf.function also keeps keras-hub on its TensorFlow path when the layer
        # is called eagerly (its eager path returns Python lists).
        self._tokenize, (self._cls_id, self._sep_id, self._pad_id) = _shared_tokenize_fn(
            vocabulary, self.lowercase, self.strip_accents, self.split_on_cjk
        )
        # String ops cannot be XLA-compiled; this keeps fit(jit_compile="auto") off XLA.
        self.supports_jit = False

    @property
    def dim(self) -> int:
        """Width of the output vectors (the backbone's hidden size)."""
        return int(self.backbone.hidden_dim)

    def build(self, input_shape=None):
        """Nothing to create: the functional backbone made its weights when it was constructed."""
        self.built = True

    def tokenize(self, texts) -> dict:
        """The backbone inputs for a batch of strings: ``token_ids``, ``segment_ids``, ``padding_mask``."""
        texts = tf.reshape(tf.convert_to_tensor(texts, dtype=tf.string), [-1])
        tokens = self._tokenize(texts)[:, : self.sequence_length - 2]
        batch = tf.shape(texts)[0]
        cls = tf.RaggedTensor.from_tensor(tf.fill([batch, 1], tf.constant(self._cls_id, tokens.dtype)))
        sep = tf.RaggedTensor.from_tensor(tf.fill([batch, 1], tf.constant(self._sep_id, tokens.dtype)))
        packed = tf.concat([cls, tokens, sep], axis=1)
        width = self.sequence_length if self.pad_to_sequence_length else None
        token_ids = tf.cast(packed.to_tensor(default_value=self._pad_id, shape=[None, width]), tf.int32)
        padding_mask = tf.sequence_mask(packed.row_lengths(), maxlen=tf.shape(token_ids)[1], dtype=tf.int32)
        return {"token_ids": token_ids, "segment_ids": tf.zeros_like(token_ids), "padding_mask": padding_mask}

    def call(self, inputs, training=None):
        """Encode a batch of strings; ``training`` only matters when the layer is trainable."""
        x = self.tokenize(inputs)
        outputs = self.backbone(x, training=bool(training) and self.trainable)
        return pool_outputs(outputs["pooled_output"], outputs["sequence_output"], x["padding_mask"], self.pooling,
                            self.normalize)

    def compute_output_shape(self, input_shape):
        """``(batch, dim)``; declared so Keras need not trace the whole BERT to learn it."""
        return (input_shape[0] if input_shape else None, self.dim)

    def get_config(self) -> dict:
        """Everything needed to rebuild the layer (weights travel in the .keras weights file)."""
        config = super().get_config()
        config.update(
            {
                "vocabulary": list(self.vocabulary),
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "sequence_length": self.sequence_length,
                "pooling": self.pooling,
                "lowercase": self.lowercase,
                "strip_accents": self.strip_accents,
                "split_on_cjk": self.split_on_cjk,
                "normalize": self.normalize,
                "pad_to_sequence_length": self.pad_to_sequence_length,
                "hidden_act": self.hidden_act,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict) -> "BertTextEmbedding":
        """Inverse of :meth:`get_config` (the backbone is rebuilt from its own config)."""
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


class TextEncoder(abc.ABC):
    """A text encoder: ``name`` (cache key), ``dim`` and ``encode(texts) -> float32 [n, dim]``."""

    def __init__(self, name: str, dim: int, pooling: str, sequence_length: int, normalize: bool):
        self.name = name
        self.dim = int(dim)
        self.pooling = pooling
        self.sequence_length = int(sequence_length)
        self.normalize = bool(normalize)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"

    @abc.abstractmethod
    def _encode_batch(self, texts: tf.Tensor) -> np.ndarray:
        """Vectors for one batch of strings (a 1-D ``tf.string`` tensor)."""

    @abc.abstractmethod
    def as_layer(self, trainable: bool | None = None) -> keras.layers.Layer:
        """A Keras layer computing the same vectors inside a model (raw strings in)."""

    def encode(self, texts, batch_size: int = 32, progress: bool = True, ids=None) -> np.ndarray:
        """Encode ``texts`` into a float32 array ``[n, dim]``, in batches, in input order.

        Texts are batched longest first, so each batch holds texts of similar length and pads
        little. Empty or whitespace-only texts raise ``ValueError`` naming the index (and the
        item id when ``ids`` is given).
        """
        return encode_in_batches(self._encode_batch, texts, self.dim, batch_size=batch_size, progress=progress,
                                 ids=ids, desc=f"encoding ({self.name})")


def encode_in_batches(encode_batch, texts, dim: int, batch_size: int = 32, progress: bool = True, ids=None,
                      desc: str = "encoding texts") -> np.ndarray:
    """Run ``encode_batch`` (a 1-D ``tf.string`` tensor -> ``[b, dim]``) over ``texts``, longest first.

    Returns float32 ``[n, dim]`` in input order; empty texts raise ``ValueError`` naming the index
    (and the item id when ``ids`` is given).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    arr = check_texts(texts, ids)
    n = len(arr)
    out = np.empty((n, int(dim)), dtype=np.float32)
    if n == 0:
        return out
    lengths = pd.Series(arr, dtype=object).str.len().to_numpy()
    order = np.argsort(-lengths, kind="stable")
    with tqdm(total=n, unit="text", desc=desc, disable=not progress) as bar:
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            out[idx] = np.asarray(encode_batch(tf.constant(arr[idx].tolist(), dtype=tf.string)), dtype=np.float32)
            bar.update(len(idx))
    return out


class KerasHubTextEncoder(TextEncoder):
    """An encoder running a :class:`BertTextEmbedding` (keras-hub preset or local checkpoint)."""

    def __init__(self, layer: BertTextEmbedding, source: str):
        name = f"keras-hub:{source}:{layer.pooling}:{layer.sequence_length}" + (":l2" if layer.normalize else "")
        super().__init__(name, layer.dim, layer.pooling, layer.sequence_length, layer.normalize)
        self.source = source
        self.layer = layer
        # One trace for every batch: the sequence axis is dynamic inside the layer.
        self._fn = tf.function(
            lambda texts: layer(texts, training=False),
            input_signature=[tf.TensorSpec([None], tf.string)],
        )

    def _encode_batch(self, texts: tf.Tensor) -> np.ndarray:
        return self._fn(texts).numpy().astype(np.float32, copy=False)

    def as_layer(self, trainable: bool | None = None) -> BertTextEmbedding:
        """A new :class:`BertTextEmbedding` with a copy of this encoder's weights.

        A copy, so fine-tuning it inside a model never changes the frozen encoder whose vectors
        fill the cache under :attr:`name`. ``trainable`` defaults to the encoder's setting.
        """
        layer = BertTextEmbedding.from_config(self.layer.get_config())
        layer.backbone.set_weights(self.layer.backbone.get_weights())
        layer.trainable = self.layer.trainable if trainable is None else bool(trainable)
        if layer.trainable and layer.pooling == "mean":
            # Mean pooling never reads BERT's pooler, so training it would only warn of missing gradients.
            layer.backbone.get_layer("pooled_dense").trainable = False
        return layer


class TFHubTextEncoder(TextEncoder):
    """A frozen TF-Hub BERT: a preprocess SavedModel + an encoder SavedModel, through ``hub.load``.

    The preprocess model maps strings to ``input_word_ids``, ``input_mask`` and
    ``input_type_ids``; when it offers ``tokenize`` and ``bert_pack_inputs`` (TF-Hub's BERT
    preprocessors do) it packs to ``sequence_length``, otherwise its own default length must equal
    ``sequence_length``. The encoder returns ``pooled_output`` (used for ``"cls"``) and
    ``sequence_output`` (masked mean for ``"mean"``).
    """

    def __init__(self, encoder_handle: str = DEFAULT_TFHUB_ENCODER,
                 preprocess_handle: str = DEFAULT_TFHUB_PREPROCESS, pooling: str = "cls",
                 sequence_length: int = 128, normalize: bool = False):
        _check_pooling(pooling)
        _check_sequence_length(sequence_length)
        import tensorflow_text  # noqa: F401  (registers the ops the preprocess SavedModel uses)
        import tensorflow_hub as hub

        self.encoder_handle = encoder_handle
        self.preprocess_handle = preprocess_handle
        self._encoder = _hub_load(hub, encoder_handle, "encoder")
        self._preprocess = _hub_load(hub, preprocess_handle, "preprocess")
        self._pack = hasattr(self._preprocess, "tokenize") and hasattr(self._preprocess, "bert_pack_inputs")
        self.sequence_length = int(sequence_length)
        self.pooling = pooling
        self.normalize = bool(normalize)
        if not self._pack:
            width = int(self._preprocess(tf.constant(["probe"]))["input_word_ids"].shape[1])
            if width != sequence_length:
                raise ValueError(
                    f"TF-Hub preprocess model {preprocess_handle} pads to {width} tokens and has no "
                    f"bert_pack_inputs to change that; pass sequence_length={width}"
                )
        dim = int(self._run(tf.constant(["probe"])).shape[-1])
        name = (f"tfhub:{_handle_id(encoder_handle)}|{_handle_id(preprocess_handle)}:{pooling}:{sequence_length}"
                + (":l2" if normalize else ""))
        super().__init__(name, dim, pooling, sequence_length, normalize)

    def _run(self, texts: tf.Tensor) -> tf.Tensor:
        if self._pack:
            tokens = self._preprocess.tokenize(texts)
            inputs = self._preprocess.bert_pack_inputs(
                [tokens], seq_length=tf.constant(self.sequence_length, tf.int32)
            )
        else:
            inputs = self._preprocess(texts)
        outputs = self._encoder(inputs)
        want = "pooled_output" if self.pooling == "cls" else "sequence_output"
        if not isinstance(outputs, dict) or want not in outputs:
            keys = sorted(outputs) if isinstance(outputs, dict) else type(outputs).__name__
            raise ValueError(f"TF-Hub encoder {self.encoder_handle} returned {keys}, without {want!r}")
        return pool_outputs(outputs.get("pooled_output"), outputs.get("sequence_output"), inputs["input_mask"],
                            self.pooling, self.normalize)

    def _encode_batch(self, texts: tf.Tensor) -> np.ndarray:
        return self._run(texts).numpy().astype(np.float32, copy=False)

    def as_layer(self, trainable: bool | None = None):
        """Not available: TF-Hub encoders are cache-only.

        ``hub.KerasLayer`` cannot be used inside a Keras 3 model ("A KerasTensor cannot be used
        as input to a TensorFlow function"), so a TF-Hub BERT only fills the feature cache. For
        the end-to-end model use a keras-hub preset or a local checkpoint directory.
        """
        raise NotImplementedError(
            f"TF-Hub encoders are cache-only: hub.KerasLayer does not work inside Keras 3 models, so "
            f"{self.name} cannot be placed in an end-to-end model. Use its vectors through the feature "
            f"cache, or load a keras-hub preset / local checkpoint (e.g. {DEFAULT_PRESET!r}) for as_layer()."
        )


def _handle_id(handle: str) -> str:
    """A TF-Hub handle as it goes into an encoder name: local folders by content, URLs as is."""
    return f"dir-{directory_hash(handle)[:16]}" if Path(handle).is_dir() else handle


def _hub_load(hub, handle: str, role: str):
    try:
        return hub.load(handle)
    except Exception as e:  # hub raises many types (OSError, ValueError, URLError, NotFoundError)
        raise OSError(
            f"could not load the TF-Hub {role} model {handle!r}: {e}. Offline, place the SavedModel "
            f"in $TFHUB_CACHE_DIR/<sha1 of the handle> or pass a local directory."
        ) from e


def _parse_tfhub_spec(spec: str) -> tuple[str, str]:
    body = spec[len(TFHUB_PREFIX):]
    encoder, _, preprocess = body.partition("|")
    return encoder.strip() or DEFAULT_TFHUB_ENCODER, preprocess.strip() or DEFAULT_TFHUB_PREPROCESS


def _read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}): {e.msg}") from e


def _is_hf_checkpoint(directory: Path) -> bool:
    config = directory / "config.json"
    return config.is_file() and "model_type" in _read_json(config)


def _hf_tokenizer_settings(directory: Path) -> dict:
    """Tokenizer flags and activation for a Hugging Face BERT folder, with Hugging Face's defaults.

    keras-hub's converter reads only ``do_lower_case`` and ignores ``hidden_act``; Hugging Face
    also strips accents when lowercasing unless ``strip_accents`` says otherwise, and uses the
    exact GELU for ``"gelu"``. We follow it so that vectors match the original model's.
    """
    config_path = directory / "config.json"
    config = _read_json(config_path)
    model_type = config.get("model_type")
    if model_type != "bert":
        raise ValueError(f"{config_path}: model_type is {model_type!r}; only BERT checkpoints are supported")
    hidden_act = config.get("hidden_act", "gelu")
    if hidden_act not in _HF_HIDDEN_ACTS:
        raise ValueError(
            f"{config_path}: hidden_act {hidden_act!r} is not supported; expected one of {sorted(_HF_HIDDEN_ACTS)}"
        )
    vocab_path = directory / "vocab.txt"
    if not vocab_path.is_file():
        raise FileNotFoundError(f"{directory}: no vocab.txt (a Hugging Face BERT checkpoint needs one)")
    with open(vocab_path, encoding="utf-8") as f:
        vocabulary = f.read().splitlines()
    tok_path = directory / "tokenizer_config.json"
    tok = _read_json(tok_path) if tok_path.is_file() else {}
    lowercase = bool(tok.get("do_lower_case", True))  # BertTokenizer's default
    strip = tok.get("strip_accents")
    return {
        "vocabulary": vocabulary,
        "lowercase": lowercase,
        "strip_accents": lowercase if strip is None else bool(strip),
        "split_on_cjk": bool(tok.get("tokenize_chinese_chars", True)),
        "hidden_act": _HF_HIDDEN_ACTS[hidden_act],
    }


def _tokenizer_settings(tokenizer) -> dict:
    return {
        "vocabulary": tokenizer.get_vocabulary(),
        "lowercase": tokenizer.lowercase,
        "strip_accents": tokenizer.strip_accents,
        "split_on_cjk": tokenizer.split_on_cjk,
    }


def _load_local_bert(path: Path):
    """Backbone + tokenizer settings from a keras-hub preset folder or a Hugging Face checkpoint."""
    import keras_hub

    if not path.is_dir():
        raise FileNotFoundError(f"text encoder spec {str(path)!r} is not a directory")
    settings = _hf_tokenizer_settings(path) if _is_hf_checkpoint(path) else None
    try:
        backbone = keras_hub.models.BertBackbone.from_preset(str(path))
        if settings is None:
            settings = _tokenizer_settings(keras_hub.tokenizers.BertTokenizer.from_preset(str(path)))
    except Exception as e:
        raise ValueError(f"could not load a BERT backbone and tokenizer from {path}: {e}") from e
    return backbone, settings


def _load_preset_bert(preset: str):
    """Backbone + tokenizer settings from a keras-hub preset name or handle (may download)."""
    import keras_hub

    try:
        backbone = keras_hub.models.BertBackbone.from_preset(preset)
        settings = _tokenizer_settings(keras_hub.tokenizers.BertTokenizer.from_preset(preset))
    except Exception as e:
        raise RuntimeError(
            f"could not load keras-hub preset {preset!r}: {e}. Without network access, pass a local "
            f"preset directory or Hugging Face BERT checkpoint instead."
        ) from e
    return backbone, settings


def _is_path_spec(spec: str) -> bool:
    if "://" in spec:  # kaggle://, hf://, gs:// handles go to keras-hub
        return False
    return os.sep in spec or "/" in spec or spec.startswith((".", "~")) or Path(spec).exists()


def load_text_encoder(spec: str = DEFAULT_PRESET, pooling: str = "cls", sequence_length: int = 128,
                      trainable: bool = False, normalize: bool = False) -> TextEncoder:
    """Load a text encoder from a keras-hub preset name, a local directory or ``tfhub:<enc>|<pre>``.

    Returns a :class:`KerasHubTextEncoder` (with ``as_layer()`` for end-to-end models) or a
    :class:`TFHubTextEncoder` (frozen, cache-only; ``trainable=True`` is refused for it).
    """
    _check_pooling(pooling)
    _check_sequence_length(sequence_length)
    spec = str(spec)
    if spec.startswith(TFHUB_PREFIX):
        if trainable:
            raise ValueError("TF-Hub encoders are frozen (cache-only); use a keras-hub preset to fine-tune BERT")
        encoder, preprocess = _parse_tfhub_spec(spec)
        return TFHubTextEncoder(encoder, preprocess, pooling=pooling, sequence_length=sequence_length,
                                normalize=normalize)
    if _is_path_spec(spec):
        path = Path(spec).expanduser()
        backbone, settings = _load_local_bert(path)
        source = f"dir-{directory_hash(path)[:16]}"
    else:
        backbone, settings = _load_preset_bert(spec)
        source = spec
    layer = BertTextEmbedding(
        backbone=backbone, sequence_length=sequence_length, pooling=pooling, normalize=normalize,
        trainable=trainable, name="bert_text_embedding", **settings,
    )
    return KerasHubTextEncoder(layer, source)
