"""HNCF (the first paper): user and movie id embeddings + BERT text vector + VGG16 poster features,
concatenated into Dense/Dropout layers with a sigmoid output; and its two baselines as switches.

Two execution paths share one fusion head, whose layers have fixed names:

* cached (:func:`build_hncf`): inputs are ids plus the frozen encoders' vectors, computed once per
  item and stored (``text_vector``, ``poster_vector``, ``poster_mask``);
* end to end (:func:`build_hncf_end_to_end`): inputs are ids plus raw text and poster pixels, which
  flow through the text layer and the frozen VGG16 on every batch (the paper's way; needed to
  fine-tune BERT).

:func:`copy_head_weights` moves a trained head between the two, so both give the same predictions
for the same weights. Variants (Table III of the paper): ``"ncf"`` (ids only), ``"bert_ncf"``
(ids + text), ``"hncf"`` (ids + text + poster).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
from keras import layers as L

VARIANTS = ("ncf", "bert_ncf", "hncf")
TEXT_FEATURES = "text_features"  # the end-to-end model's text vector, before the fusion head
POSTER_FEATURES = "poster_features_masked"


@dataclass
class HNCFConfig:
    """Sizes of the fusion model. The paper gives no sizes; these are ours, stated in the README."""

    embedding_dim: int = 32
    poster_units: int = 128  # Flatten + Dense head on the VGG16 features, as in the paper's Fig. 2
    hidden: tuple = (256, 128, 64)  # "multiple couples of dense and dropout layers"
    dropout: float = 0.2
    use_poster_flag: bool = True  # the missing-poster flag as an input feature (see the evaluation caveat)

    def to_dict(self) -> dict:
        """JSON-friendly form for metrics.json."""
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


@keras.saving.register_keras_serializable(package="hncf")
class MaskFeatures(keras.layers.Layer):
    """Zero a feature vector where its mask is 0: a missing poster carries no pixels' information."""

    def call(self, inputs):
        features, mask = inputs
        return features * keras.ops.cast(mask, features.dtype)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown HNCF variant {variant!r}; known: {', '.join(VARIANTS)}")


def _head(user, item, text_vec, poster_vec, poster_mask, n_users: int, n_items: int, config: HNCFConfig,
          variant: str, seed: int | None):
    """The fusion head: every layer is named, so weights move between the two paths by name."""

    def init(k):
        return keras.initializers.GlorotUniform(seed=None if seed is None else seed + k)

    u = L.Flatten(name="user_flatten")(L.Embedding(n_users, config.embedding_dim, name="user_embedding")(user))
    i = L.Flatten(name="item_flatten")(L.Embedding(n_items, config.embedding_dim, name="item_embedding")(item))
    parts = [u, i]
    if variant in ("bert_ncf", "hncf"):
        parts.append(text_vec)
    if variant == "hncf":
        p = L.Flatten(name="poster_flatten")(poster_vec)
        p = L.Dense(config.poster_units, activation="relu", kernel_initializer=init(1), name="poster_dense")(p)
        parts.append(MaskFeatures(name="poster_masked")([p, poster_mask]))
        if config.use_poster_flag:
            parts.append(poster_mask)
    x = L.Concatenate(name="fusion_concat")(parts)
    for k, width in enumerate(config.hidden, start=1):
        x = L.Dense(width, activation="relu", kernel_initializer=init(10 + k), name=f"fusion_dense_{k}")(x)
        x = L.Dropout(config.dropout, seed=None if seed is None else seed + 20 + k, name=f"fusion_dropout_{k}")(x)
    out = L.Dense(1, activation="sigmoid", kernel_initializer=init(99), name="prediction")(x)
    return L.Reshape((), name="score")(out)


def _id_inputs():
    return (keras.Input(shape=(), dtype="int32", name="user_id"),
            keras.Input(shape=(), dtype="int32", name="item_id"))


def build_hncf(n_users: int, n_items: int, text_dim: int = 0, poster_dim: int = 0,
               config: HNCFConfig | None = None, variant: str = "hncf", seed: int | None = None,
               name: str | None = None) -> keras.Model:
    """The cached-feature HNCF model: ids + precomputed text and poster vectors -> interaction probability.

    Inputs: ``user_id``, ``item_id`` (int32), and by variant ``text_vector`` (float32 [text_dim]),
    ``poster_vector`` (float32 [poster_dim]) and ``poster_mask`` (float32 [1], 1 = real poster).
    """
    _check_variant(variant)
    config = config or HNCFConfig()
    if variant in ("bert_ncf", "hncf") and text_dim < 1:
        raise ValueError(f"variant {variant!r} needs text_dim >= 1, got {text_dim}")
    if variant == "hncf" and poster_dim < 1:
        raise ValueError(f"variant 'hncf' needs poster_dim >= 1, got {poster_dim}")
    user, item = _id_inputs()
    inputs = {"user_id": user, "item_id": item}
    text_vec = poster_vec = poster_mask = None
    if variant in ("bert_ncf", "hncf"):
        text_vec = inputs["text_vector"] = keras.Input(shape=(text_dim,), name="text_vector")
    if variant == "hncf":
        poster_vec = inputs["poster_vector"] = keras.Input(shape=(poster_dim,), name="poster_vector")
        poster_mask = inputs["poster_mask"] = keras.Input(shape=(1,), name="poster_mask")
    out = _head(user, item, text_vec, poster_vec, poster_mask, n_users, n_items, config, variant, seed)
    return keras.Model(inputs, out, name=name or variant)


def build_hncf_end_to_end(n_users: int, n_items: int, text_layer=None, poster_encoder: keras.Model | None = None,
                          config: HNCFConfig | None = None, variant: str = "hncf", seed: int | None = None,
                          name: str | None = None) -> keras.Model:
    """The paper's end-to-end HNCF: raw movie text and poster pixels go through the encoders every batch.

    Inputs: ``user_id``, ``item_id``, and by variant ``movie_text`` (string), ``poster`` (float32
    image, preprocessed as the poster encoder expects) and ``poster_mask`` (float32 [1]).
    ``text_layer`` maps strings to vectors (e.g. ``BertTextEmbedding``; trainable to fine-tune BERT);
    ``poster_encoder`` is the frozen VGG16 feature extractor.
    """
    _check_variant(variant)
    config = config or HNCFConfig()
    if variant in ("bert_ncf", "hncf") and text_layer is None:
        raise ValueError(f"variant {variant!r} needs a text_layer")
    if variant == "hncf" and poster_encoder is None:
        raise ValueError("variant 'hncf' needs a poster_encoder")
    user, item = _id_inputs()
    inputs = {"user_id": user, "item_id": item}
    text_vec = poster_vec = poster_mask = None
    if variant in ("bert_ncf", "hncf"):
        inputs["movie_text"] = keras.Input(shape=(), dtype="string", name="movie_text")
        # A fixed name on the text vector lets text_encoder_of() cut the item tower out of the model.
        text_vec = L.Identity(name=TEXT_FEATURES)(text_layer(inputs["movie_text"]))
    if variant == "hncf":
        inputs["poster"] = keras.Input(shape=poster_encoder.input_shape[1:], name="poster")
        poster_mask = inputs["poster_mask"] = keras.Input(shape=(1,), name="poster_mask")
        # The VGG16 output is zeroed for a missing poster, as the cache stores zeros for it.
        poster_vec = MaskFeatures(name=POSTER_FEATURES)([poster_encoder(inputs["poster"]), poster_mask])
    out = _head(user, item, text_vec, poster_vec, poster_mask, n_users, n_items, config, variant, seed)
    return keras.Model(inputs, out, name=name or f"{variant}_end_to_end")


HEAD_LAYER_PREFIXES = ("user_", "item_", "poster_dense", "fusion_", "prediction")


def copy_head_weights(source: keras.Model, target: keras.Model) -> keras.Model:
    """Copy the fusion head (embeddings, poster Dense, fusion Dense layers, output) by layer name."""
    copied = 0
    for layer in target.layers:
        if not layer.weights or not layer.name.startswith(HEAD_LAYER_PREFIXES):
            continue
        try:
            src = source.get_layer(layer.name)
        except ValueError as e:
            raise ValueError(f"source model {source.name!r} has no layer {layer.name!r}") from e
        layer.set_weights(src.get_weights())
        copied += 1
    if copied == 0:
        raise ValueError(f"no head layers in common between {source.name!r} and {target.name!r}")
    return target


def text_encoder_of(model: keras.Model) -> keras.Model | None:
    """The end-to-end model's text tower as a model of its own: strings -> text vectors.

    It shares the end-to-end model's layers (and so a fine-tuned BERT's current weights); ``None``
    for a variant without text.
    """
    names = {layer.name for layer in model.layers}
    if TEXT_FEATURES not in names:
        return None
    return keras.Model(model.get_layer("movie_text").output, model.get_layer(TEXT_FEATURES).output,
                       name=f"{model.name}_text_tower")


def cached_twin(model: keras.Model, n_users: int, n_items: int, config: HNCFConfig | None = None,
                variant: str = "hncf") -> keras.Model:
    """A cached-feature model with the end-to-end ``model``'s head weights.

    Fed each item's vectors from the end-to-end model's own encoders, it gives the same score for
    every pair: the encoders are functions of the item alone, so they run once per item instead of
    once per pair (how an end-to-end model is scored and validated).
    """
    _check_variant(variant)
    names = {layer.name for layer in model.layers}
    text_dim = int(model.get_layer(TEXT_FEATURES).output.shape[-1]) if TEXT_FEATURES in names else 0
    poster_dim = int(model.get_layer(POSTER_FEATURES).output.shape[-1]) if POSTER_FEATURES in names else 0
    twin = build_hncf(n_users, n_items, text_dim, poster_dim, config, variant=variant, name=f"{model.name}_cached")
    return copy_head_weights(model, twin)
