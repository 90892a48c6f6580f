"""Frozen and trainable item encoders, and the on-disk cache of their vectors.

* :mod:`hncf.encoders.text`: BERT text encoders from a keras-hub preset, a local directory
  (keras-hub preset or Hugging Face checkpoint) or a TF-Hub handle; ``BertTextEmbedding`` layer.
* :mod:`hncf.encoders.poster`: the frozen VGG16 poster encoder.
* :mod:`hncf.encoders.cache`: vectors keyed by encoder, item and content hash.
"""

from hncf.encoders.cache import CacheError, FeatureCache, content_hash, content_hashes
from hncf.encoders.poster import build_poster_encoder, encode_posters
from hncf.encoders.text import BertTextEmbedding, TextEncoder, load_text_encoder

__all__ = ["CacheError", "FeatureCache", "content_hash", "content_hashes", "build_poster_encoder", "encode_posters",
           "BertTextEmbedding", "TextEncoder", "load_text_encoder"]
