"""The two ways `reproduce hncf` trains a row: on cached item vectors, or end to end (the paper's way).

A path knows how to build the row's model, the generator that feeds it, and how the protocols
score it:

* :class:`CachedPath`: ids plus the frozen encoders' vectors, computed once per item and read
  from the feature cache. Fast; the default.
* :class:`EndToEndPath`: ids plus raw movie text and poster pixels, which go through BERT and the
  frozen VGG16 on every batch, as in the paper. Needed to fine-tune BERT (``fine_tune_text``).

An end-to-end model is *scored* through its cached twin (:func:`hncf.models.hncf.cached_twin`):
the encoders are functions of the item alone, so each runs once per item (the fine-tuned text
tower re-encodes the catalogue; the frozen ones' vectors are the cache's) and the same head
scores every pair. :meth:`EndToEndPath.check_agreement` measures, on a real training batch, that
the twin and the end-to-end model give the same scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from hncf.encoders.text import encode_in_batches
from hncf.generators.hncf import CachedFeatureSampler, EndToEndSampler
from hncf.models.hncf import (
    HNCFConfig,
    build_hncf,
    build_hncf_end_to_end,
    cached_twin,
    text_encoder_of,
)
from hncf.training import make_score_fn

MODES = ("cached", "end-to-end")
# Scores of a twin and its end-to-end model differ only by float rounding (about 1e-7 measured).
AGREEMENT_TOLERANCE = 1e-4


@dataclass
class ItemFeatures:
    """Per item index: the movie text, its vector, and the poster's features and mask."""

    texts: np.ndarray
    text_vectors: np.ndarray | None
    poster_vectors: np.ndarray | None
    poster_mask: np.ndarray | None
    poster_report: dict = field(default_factory=dict)
    text_encoder: str | None = None
    poster_encoder: str | None = None
    text_model: object = field(default=None, repr=False)  # the TextEncoder behind text_vectors

    def tables(self, variant: str) -> dict:
        """The per-item input tables a model variant takes (for scoring and batching)."""
        out = {}
        if variant != "ncf":
            out["text_vector"] = self.text_vectors
        if variant in ("hncf", "hncf_flag_only"):
            pixels = self.poster_vectors if variant == "hncf" else np.zeros_like(self.poster_vectors)
            out["poster_vector"] = pixels
            out["poster_mask"] = self.poster_mask.reshape(-1, 1).astype(np.float32)
        return out


def model_variant(variant: str) -> str:
    """The model a report row trains (the flag-only control is HNCF fed zeroed pixel features)."""
    return "hncf" if variant == "hncf_flag_only" else variant


class CachedPath:
    """A row trained on ids and cached item vectors."""

    mode = "cached"

    def __init__(self, variant: str, feats: ItemFeatures, n_users: int, n_items: int, config: HNCFConfig):
        self.variant, self.n_users, self.n_items, self.config = variant, n_users, n_items, config
        self.tables = feats.tables(variant)

    def build(self, seed: int) -> keras.Model:
        """A freshly initialised model (same seed, same weights)."""
        keras.utils.set_random_seed(seed)
        text_dim = self.tables["text_vector"].shape[1] if "text_vector" in self.tables else 0
        poster_dim = self.tables["poster_vector"].shape[1] if "poster_vector" in self.tables else 0
        return build_hncf(self.n_users, self.n_items, text_dim, poster_dim, self.config,
                          variant=model_variant(self.variant), seed=seed)

    def sampler(self, users, items, n_neg: int, batch_size: int, seed: int, exclude) -> CachedFeatureSampler:
        """Training rows (negatives resampled per epoch) with each row's item vectors."""
        mask = self.tables.get("poster_mask")
        return CachedFeatureSampler(users, items, self.n_users, self.n_items,
                                    text_vectors=self.tables.get("text_vector"),
                                    poster_vectors=self.tables.get("poster_vector"),
                                    poster_mask=None if mask is None else mask[:, 0],
                                    n_neg=n_neg, batch_size=batch_size, seed=seed, exclude=exclude)

    def score_fn(self, model: keras.Model):
        """``score_fn(users, items)`` for the protocols."""
        return make_score_fn(model, item_features=self.tables)


class EndToEndPath:
    """A row trained on ids, raw movie text and poster pixels, through the encoders every batch.

    ``text_encoder`` is a keras-hub :class:`~hncf.encoders.text.TextEncoder` (TF-Hub encoders
    cannot sit inside a Keras 3 model); each built model gets its own copy of it, trainable when
    ``fine_tune_text``. ``poster_encoder_factory()`` returns the frozen VGG16 whose vectors the
    cache holds, and ``load_posters(item_indices) -> (images, mask)`` reads a batch of posters
    preprocessed for it.
    """

    mode = "end-to-end"

    def __init__(self, variant: str, feats: ItemFeatures, n_users: int, n_items: int, config: HNCFConfig,
                 text_encoder=None, fine_tune_text: bool = False, poster_encoder_factory=None, load_posters=None,
                 text_batch_size: int = 64, progress: bool = False):
        if variant not in ("bert_ncf", "hncf"):
            raise ValueError(f"variant {variant!r} has no encoder to run end to end; train it on the cached path "
                             f"(end-to-end variants: bert_ncf, hncf)")
        if text_encoder is None:
            raise ValueError("the end-to-end path needs a text encoder")
        if variant == "hncf" and (poster_encoder_factory is None or load_posters is None):
            raise ValueError("the end-to-end HNCF row needs a poster encoder and a poster loader")
        self.variant, self.n_users, self.n_items, self.config = variant, n_users, n_items, config
        self.tables = feats.tables(variant)
        self.texts = feats.texts
        self.text_encoder, self.fine_tune_text = text_encoder, bool(fine_tune_text)
        self.poster_encoder_factory, self.load_posters = poster_encoder_factory, load_posters
        self.text_batch_size, self.progress = text_batch_size, progress
        self._poster_encoder = None

    def build(self, seed: int) -> keras.Model:
        """A freshly initialised end-to-end model: a new copy of the pretrained text encoder each time."""
        keras.utils.set_random_seed(seed)  # BERT's dropout seeds are drawn when its copy is made
        text_layer = self.text_encoder.as_layer(trainable=self.fine_tune_text)
        poster_encoder = None
        if self.variant == "hncf":
            if self._poster_encoder is None:  # frozen, so one instance serves every model
                self._poster_encoder = self.poster_encoder_factory()
            poster_encoder = self._poster_encoder
        # Seeded after the encoders are made, so the head starts exactly as the cached path's does.
        keras.utils.set_random_seed(seed)
        return build_hncf_end_to_end(self.n_users, self.n_items, text_layer, poster_encoder, self.config,
                                     variant=self.variant, seed=seed)

    def sampler(self, users, items, n_neg: int, batch_size: int, seed: int, exclude) -> EndToEndSampler:
        """Training rows with raw text and (for HNCF) the posters read from disk per batch."""
        return EndToEndSampler(users, items, self.n_users, self.n_items, self.texts,
                               load_posters=self.load_posters if self.variant == "hncf" else None,
                               n_neg=n_neg, batch_size=batch_size, seed=seed, exclude=exclude)

    def item_tables(self, model: keras.Model) -> dict:
        """Each item's vectors as ``model``'s encoders give them now (the fine-tuned text re-encoded)."""
        tables = dict(self.tables)
        if self.fine_tune_text:
            tower = text_encoder_of(model)
            fn = tf.function(lambda t: tower(t, training=False), input_signature=[tf.TensorSpec([None], tf.string)])
            tables["text_vector"] = encode_in_batches(fn, self.texts, tables["text_vector"].shape[1],
                                                      batch_size=self.text_batch_size, progress=self.progress,
                                                      desc="re-encoding texts (fine-tuned)")
        return tables

    def score_fn(self, model: keras.Model):
        """``score_fn(users, items)``: the model's head on each item's vectors from its own encoders."""
        twin = cached_twin(model, self.n_users, self.n_items, self.config, variant=self.variant)
        return make_score_fn(twin, item_features=self.item_tables(model))

    def check_agreement(self, model: keras.Model, batch: dict) -> float:
        """Largest |end-to-end score - twin score| on a training batch; raises if they disagree.

        A disagreement means the cached vectors did not come from these encoders (e.g. a cache
        filled with other weights), and every reported number would be wrong.
        """
        direct = np.asarray(model.predict_on_batch(batch)).reshape(-1)
        via_twin = self.score_fn(model)(batch["user_id"], batch["item_id"])
        diff = float(np.max(np.abs(direct - via_twin)))
        if not diff <= AGREEMENT_TOLERANCE:
            raise RuntimeError(f"end-to-end and cached scores of the {self.variant} model differ by {diff:.2e} "
                               f"(> {AGREEMENT_TOLERANCE:g}): the cached item vectors were not made by these "
                               f"encoders; clear the feature cache or check --image-weights / --text-encoder")
        return diff
