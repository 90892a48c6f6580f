"""BERT-RS (the second paper): a review semantic layer fused with GMF and MLP branches.

For a (user, item) pair with review vector ``r`` (BERT on review text; cached, or computed in
the model end to end):

* semantic layer: ``b_s = tanh(W r + b)`` (the paper's pooler, eq. 7), user and item semantic
  embeddings ``u_s``, ``i_s``, and ``l_s = (u_s * b_s) * (i_s * b_s)`` (eq. 8);
* GMF branch: ``l_g = u_g * i_g`` (eq. 9);
* MLP branch: ``[u_m, i_m]`` through ReLU layers down to the predictive factors (eqs. 10-11);
* prediction: ``sigmoid(w [l_s, l_g, l_m] + b)`` (sec. 3.5), trained with binary cross-entropy.

Which review ``r`` is depends on the mode of the experiment (the paper's leak, or review
documents from training only); the model does not know. Both builders share one named head, so
the cached and end-to-end models hold the same weights under the same names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
from keras import layers as L

from hncf.models.ncf import _embedding, _id_inputs, _squeeze


@dataclass
class BertRSConfig:
    """Sizes: the paper's Table 1 text gives 32 predictive factors for GMF and the MLP's 3 layers."""

    semantic_dim: int | None = None  # b_s, u_s, i_s width; None: the review vector's width (768 for BERT-base)
    n_factors: int = 32  # GMF factors = the MLP's last layer (predictive factors)
    mlp_layers: tuple = (128, 64, 32)  # 3 MLP layers ending in 32 predictive factors
    l2: float = 0.0

    def to_dict(self) -> dict:
        """JSON-friendly form for metrics.json."""
        d = asdict(self)
        d["mlp_layers"] = list(self.mlp_layers)
        return d


def _head(user, item, review_vector, n_users: int, n_items: int, text_dim: int, config: BertRSConfig,
          seed: int | None):
    def s(k):
        return None if seed is None else seed + k

    dim = config.semantic_dim or text_dim
    b_s = L.Dense(dim, activation="tanh", name="semantic_pooler",
                  kernel_initializer=keras.initializers.GlorotUniform(seed=s(10)))(review_vector)
    u_s = _embedding(n_users, dim, "semantic_user_embedding", config.l2, s(11))(user)
    i_s = _embedding(n_items, dim, "semantic_item_embedding", config.l2, s(12))(item)
    l_s = L.Multiply(name="semantic_interaction")([L.Multiply(name="semantic_user")([u_s, b_s]),
                                                   L.Multiply(name="semantic_item")([i_s, b_s])])
    u_g = _embedding(n_users, config.n_factors, "gmf_user_embedding", config.l2, s(0))(user)
    i_g = _embedding(n_items, config.n_factors, "gmf_item_embedding", config.l2, s(1))(item)
    l_g = L.Multiply(name="gmf_product")([u_g, i_g])
    half = config.mlp_layers[0] // 2
    u_m = _embedding(n_users, half, "mlp_user_embedding", config.l2, s(2))(user)
    i_m = _embedding(n_items, half, "mlp_item_embedding", config.l2, s(3))(item)
    x = L.Concatenate(name="mlp_concat")([u_m, i_m])
    for k, width in enumerate(config.mlp_layers, start=1):
        x = L.Dense(width, activation="relu", name=f"mlp_layer_{k}",
                    kernel_initializer=keras.initializers.GlorotUniform(seed=s(20 + k)))(x)
    fused = L.Concatenate(name="fusion")([l_s, l_g, x])
    out = L.Dense(1, activation="sigmoid", name="prediction_dense",
                  kernel_initializer=keras.initializers.LecunUniform(seed=s(30)))(fused)
    return _squeeze(out)


def build_bert_rs(n_users: int, n_items: int, text_dim: int, config: BertRSConfig | None = None,
                  seed: int | None = None, name: str = "bert_rs") -> keras.Model:
    """BERT-RS on cached review vectors: inputs ``user_id``, ``item_id``, ``review_vector [text_dim]``."""
    if n_users < 1 or n_items < 1 or text_dim < 1:
        raise ValueError(f"need users, items and a text width >= 1, got {n_users}, {n_items}, {text_dim}")
    config = config or BertRSConfig()
    user, item = _id_inputs()
    vec = keras.Input(shape=(text_dim,), name="review_vector")
    return keras.Model([user, item, vec], _head(user, item, vec, n_users, n_items, text_dim, config, seed), name=name)


def build_bert_rs_end_to_end(n_users: int, n_items: int, text_layer, config: BertRSConfig | None = None,
                             seed: int | None = None, name: str = "bert_rs_end_to_end") -> keras.Model:
    """BERT-RS with the text encoder inside: inputs ``user_id``, ``item_id``, ``review_text`` (strings).

    ``text_layer`` maps raw strings to review vectors (``TextEncoder.as_layer(trainable=...)``;
    trainable to fine-tune BERT, as the paper does). Its head has the cached model's layer names.
    """
    config = config or BertRSConfig()
    user, item = _id_inputs()
    text = keras.Input(shape=(), dtype="string", name="review_text")
    vec = text_layer(text)
    text_dim = int(vec.shape[-1])
    return keras.Model([user, item, text], _head(user, item, vec, n_users, n_items, text_dim, config, seed), name=name)


def copy_head(source: keras.Model, target: keras.Model) -> keras.Model:
    """Copy every head layer's weights by name (cached <-> end-to-end twins)."""
    names = {layer.name for layer in target.layers if layer.weights}
    for layer in source.layers:
        if layer.weights and layer.name in names and not layer.name.startswith("bert"):
            target.get_layer(layer.name).set_weights(layer.get_weights())
    return target
