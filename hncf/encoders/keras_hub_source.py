"""keras-hub BERT weights: a preset name or handle, or a local folder (keras-hub preset or HF checkpoint).

Every encoder from this source runs a :class:`~hncf.encoders.text_layer.BertTextEmbedding`, so
``as_layer()`` gives the end-to-end models the very function whose vectors fill the cache. Names:
``keras-hub:<preset>:<pooling>:<sequence_length>[:l2]``, with a local folder named by the hash of
its files (``dir-<16 hex>``), so other weights in the same folder never reuse cached vectors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from hncf.encoders.hf_checkpoint import hf_tokenizer_settings, is_hf_checkpoint
from hncf.encoders.text_base import TextEncoder, directory_hash
from hncf.encoders.text_layer import BertTextEmbedding

__all__ = ["DEFAULT_PRESET", "KerasHubTextEncoder", "load_keras_hub_encoder", "load_local_bert",
           "load_preset_bert", "tokenizer_settings"]

DEFAULT_PRESET = "bert_base_en_uncased"  # the paper's BERT-base uncased L-12 H-768 A-12


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


def tokenizer_settings(tokenizer) -> dict:
    """The :class:`BertTextEmbedding` tokenizer arguments of a keras-hub ``BertTokenizer``."""
    return {
        "vocabulary": tokenizer.get_vocabulary(),
        "lowercase": tokenizer.lowercase,
        "strip_accents": tokenizer.strip_accents,
        "split_on_cjk": tokenizer.split_on_cjk,
    }


def load_local_bert(path: Path):
    """Backbone + tokenizer settings from a keras-hub preset folder or a Hugging Face checkpoint."""
    import keras_hub

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"text encoder spec {str(path)!r} is not a directory")
    settings = hf_tokenizer_settings(path) if is_hf_checkpoint(path) else None
    try:
        backbone = keras_hub.models.BertBackbone.from_preset(str(path))
        if settings is None:
            settings = tokenizer_settings(keras_hub.tokenizers.BertTokenizer.from_preset(str(path)))
    except Exception as e:
        raise ValueError(f"could not load a BERT backbone and tokenizer from {path}: {e}") from e
    return backbone, settings


def load_preset_bert(preset: str):
    """Backbone + tokenizer settings from a keras-hub preset name or handle (may download)."""
    import keras_hub

    try:
        backbone = keras_hub.models.BertBackbone.from_preset(preset)
        settings = tokenizer_settings(keras_hub.tokenizers.BertTokenizer.from_preset(preset))
    except Exception as e:
        raise RuntimeError(
            f"could not load keras-hub preset {preset!r}: {e}. Without network access, pass a local "
            f"preset directory or Hugging Face BERT checkpoint instead (offline: spec 'minilm')."
        ) from e
    return backbone, settings


def load_keras_hub_encoder(spec: str, local: bool, pooling: str = "cls", sequence_length: int = 128,
                           trainable: bool = False, normalize: bool = False) -> KerasHubTextEncoder:
    """A :class:`KerasHubTextEncoder` from a local folder (``local=True``) or a keras-hub preset/handle."""
    if local:
        path = Path(spec).expanduser()
        backbone, settings = load_local_bert(path)
        source = f"dir-{directory_hash(path)[:16]}"
    else:
        backbone, settings = load_preset_bert(spec)
        source = spec
    layer = BertTextEmbedding(
        backbone=backbone, sequence_length=sequence_length, pooling=pooling, normalize=normalize,
        trainable=trainable, name="bert_text_embedding", **settings,
    )
    return KerasHubTextEncoder(layer, source)
