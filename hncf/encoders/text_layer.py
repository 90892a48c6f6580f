"""The Keras text layer: raw strings in, one BERT vector per string out.

:class:`BertTextEmbedding` tokenizes inside the graph (keras-hub's WordPiece ``BertTokenizer``),
runs a ``keras_hub.models.BertBackbone`` and pools. It is the layer the end-to-end models use and
the function the keras-hub encoders cache, so cached vectors and the end-to-end path agree.

Pooling (:func:`pool_outputs`): ``"cls"`` is BERT's pooled output (tanh of a dense layer on the
[CLS] state, which is TF-Hub's ``pooled_output`` and keras-hub's ``pooled_output``); ``"mean"`` is
the mean of the last hidden states over real tokens ([CLS] and [SEP] included, padding excluded),
as sentence-transformers computes it. ``normalize=True`` L2-normalises the result.

The layer is registered as ``hncf>BertTextEmbedding``; models saved when it lived in
``hncf.encoders.text`` reload unchanged (Keras resolves the registered name first).
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from typing import Sequence

import keras
import tensorflow as tf

__all__ = ["POOLINGS", "HIDDEN_ACTS", "BertTextEmbedding", "check_pooling", "check_sequence_length",
           "pool_outputs"]

POOLINGS = ("cls", "mean")
HIDDEN_ACTS = ("gelu_approximate", "gelu")


def check_pooling(pooling: str) -> None:
    """Raise ``ValueError`` unless ``pooling`` is one of :data:`POOLINGS`."""
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; expected one of {POOLINGS}")


def check_sequence_length(sequence_length: int, max_length: int | None = None) -> None:
    """Raise ``ValueError`` unless ``sequence_length`` is an integer >= 3 (and <= ``max_length``)."""
    # [CLS] and [SEP] take two positions; at least one is left for the text itself.
    if int(sequence_length) != sequence_length or sequence_length < 3:
        raise ValueError(f"sequence_length must be an integer >= 3, got {sequence_length!r}")
    if max_length is not None and sequence_length > max_length:
        raise ValueError(
            f"sequence_length {sequence_length} exceeds the backbone's max_sequence_length {max_length}"
        )


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

        check_pooling(pooling)
        if hidden_act not in HIDDEN_ACTS:
            raise ValueError(f"unknown hidden_act {hidden_act!r}; expected one of {HIDDEN_ACTS}")
        if isinstance(backbone, dict):
            backbone = keras.saving.deserialize_keras_object(backbone)
        if not isinstance(backbone, keras_hub.models.BertBackbone):
            raise TypeError(f"backbone must be a keras_hub.models.BertBackbone, got {type(backbone).__name__}")
        check_sequence_length(sequence_length, backbone.max_sequence_length)
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

