"""Frozen and trainable item encoders, and the on-disk cache of their vectors.

* :mod:`hncf.encoders.text`: ``load_text_encoder(spec)``, the one way to ask for a text encoder:
  a named encoder (``"minilm"``, offline), a keras-hub preset, a local directory (keras-hub preset
  or Hugging Face checkpoint) or a TF-Hub handle. The pieces live in
  :mod:`~hncf.encoders.text_layer` (the ``BertTextEmbedding`` Keras layer),
  :mod:`~hncf.encoders.text_base` (input checks, the ``TextEncoder`` interface),
  :mod:`~hncf.encoders.keras_hub_source`, :mod:`~hncf.encoders.hf_checkpoint` and
  :mod:`~hncf.encoders.tfhub_source`.
* :mod:`hncf.encoders.poster`: the frozen VGG16 poster encoder.
* :mod:`hncf.encoders.cache`: vectors keyed by encoder, item and content hash.
"""

from hncf.encoders.cache import CacheError, FeatureCache, content_hash, content_hashes
from hncf.encoders.poster import build_poster_encoder, encode_posters
from hncf.encoders.text import (
    NAMED_TEXT_ENCODERS,
    BertTextEmbedding,
    KerasHubTextEncoder,
    TextEncoder,
    TFHubTextEncoder,
    load_text_encoder,
    minilm_path,
)

__all__ = ["CacheError", "FeatureCache", "content_hash", "content_hashes", "build_poster_encoder", "encode_posters",
           "BertTextEmbedding", "TextEncoder", "load_text_encoder", "KerasHubTextEncoder", "TFHubTextEncoder",
           "NAMED_TEXT_ENCODERS", "minilm_path"]
