"""Frozen TF-Hub BERT: a preprocess SavedModel + an encoder SavedModel, through ``hub.load``.

Spec ``tfhub:<encoder handle>|<preprocess handle>`` (either part may be empty for the paper's
defaults). ``hub.KerasLayer`` does not work inside a Keras 3 model, so these encoders only fill the
feature cache. ``hub.load(url)`` reads ``$TFHUB_CACHE_DIR/<sha1(url)>``, so URL handles also load
offline from a filled cache; a local SavedModel folder works as a handle too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from hncf.encoders.text_base import TextEncoder, directory_hash
from hncf.encoders.text_layer import check_pooling, check_sequence_length, pool_outputs

__all__ = ["DEFAULT_TFHUB_ENCODER", "DEFAULT_TFHUB_PREPROCESS", "TFHUB_PREFIX", "TFHubTextEncoder",
           "parse_tfhub_spec"]

DEFAULT_TFHUB_ENCODER = "https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4"
DEFAULT_TFHUB_PREPROCESS = "https://tfhub.dev/tensorflow/bert_en_uncased_preprocess/3"
TFHUB_PREFIX = "tfhub:"
_DEFAULT_PRESET_HINT = "bert_base_en_uncased"  # what to load instead for as_layer(); see keras_hub_source


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
        check_pooling(pooling)
        check_sequence_length(sequence_length)
        import tensorflow_hub as hub
        import tensorflow_text  # noqa: F401  (registers the ops the preprocess SavedModel uses)

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
            f"cache, or load a keras-hub preset / local checkpoint (e.g. {_DEFAULT_PRESET_HINT!r}) for as_layer()."
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


def parse_tfhub_spec(spec: str) -> tuple[str, str]:
    """``"tfhub:<encoder>|<preprocess>"`` -> ``(encoder, preprocess)``, empty parts -> the defaults."""
    if not spec.startswith(TFHUB_PREFIX):
        raise ValueError(f"a TF-Hub spec starts with {TFHUB_PREFIX!r}, got {spec!r}")
    body = spec[len(TFHUB_PREFIX):]
    encoder, _, preprocess = body.partition("|")
    return encoder.strip() or DEFAULT_TFHUB_ENCODER, preprocess.strip() or DEFAULT_TFHUB_PREPROCESS
