"""The NCF family of He et al. (2017): GMF, MLP, NeuMF; plus a biased dot-product MF
(the strong baseline of Rendle et al. 2020) and a popularity baseline.

Every builder returns a functional ``keras.Model`` with two named int inputs,
``user_id`` and ``item_id`` (shape ``()``), and one output ``prediction``: the
probability of an interaction. Layer names are stable (``gmf_user_embedding``,
``mlp_layer_1``, ...) because NeuMF pretraining is a plain weight copy by name
from a trained GMF and MLP, as in the original code.

``layers`` follows He et al. and Microsoft Recommenders: ``layers[0]`` is the
width of the concatenated MLP embeddings (each side gets ``layers[0] // 2``),
the remaining entries are the hidden Dense widths.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers as L

# The original NCF code and Recommenders both initialise embeddings with a
# small normal (std 0.01); larger scales make GMF's products saturate early.
_EMBEDDING_INIT_STD = 0.01


def _id_inputs():
    user = keras.Input(shape=(), dtype="int32", name="user_id")
    item = keras.Input(shape=(), dtype="int32", name="item_id")
    return user, item


def _embedding(n: int, dim: int, name: str, l2: float, seed: int | None, l2_example: float = 0.0):
    # ``l2`` penalises the whole table every batch; ``l2_example`` only the rows a batch looks up
    # (Keras divides an activity penalty by the batch size), so frequent users and items are
    # regularised more often, as in SGD with per-example L2 (Rendle et al. 2020).
    return L.Embedding(
        n,
        dim,
        embeddings_initializer=keras.initializers.RandomNormal(stddev=_EMBEDDING_INIT_STD, seed=seed),
        embeddings_regularizer=keras.regularizers.L2(l2) if l2 else None,
        activity_regularizer=keras.regularizers.L2(l2_example) if l2_example else None,
        name=name,
    )


def _check_sizes(n_users: int, n_items: int):
    if n_users < 1 or n_items < 1:
        raise ValueError(f"need at least one user and one item, got n_users={n_users}, n_items={n_items}")


def _gmf_vector(user, item, n_users, n_items, n_factors, l2, seed):
    u = _embedding(n_users, n_factors, "gmf_user_embedding", l2, seed)(user)
    i = _embedding(n_items, n_factors, "gmf_item_embedding", l2, None if seed is None else seed + 1)(item)
    return L.Multiply(name="gmf_product")([u, i])


def _mlp_vector(user, item, n_users, n_items, layers, l2, seed):
    if len(layers) < 1 or layers[0] % 2:
        raise ValueError(f"layers[0] is the concatenated embedding width and must be even, got {layers}")
    half = layers[0] // 2
    u = _embedding(n_users, half, "mlp_user_embedding", l2, None if seed is None else seed + 2)(user)
    i = _embedding(n_items, half, "mlp_item_embedding", l2, None if seed is None else seed + 3)(item)
    x = L.Concatenate(name="mlp_concat")([u, i])
    for k, width in enumerate(layers[1:], start=1):
        x = L.Dense(
            width,
            activation="relu",
            kernel_regularizer=keras.regularizers.L2(l2) if l2 else None,
            kernel_initializer=keras.initializers.GlorotUniform(seed=None if seed is None else seed + 10 + k),
            name=f"mlp_layer_{k}",
        )(x)
    return x


def _prediction(x, seed):
    # lecun_uniform as in the original NCF Keras code for the output layer.
    return L.Dense(
        1,
        activation="sigmoid",
        kernel_initializer=keras.initializers.LecunUniform(seed=None if seed is None else seed + 99),
        name="prediction",
    )(x)


def _squeeze(x):
    return L.Reshape((), name="score")(x)


def build_gmf(n_users: int, n_items: int, n_factors: int = 8, l2: float = 0.0, seed: int | None = None,
              name: str = "gmf") -> keras.Model:
    """Generalised matrix factorisation: sigmoid(h . (p_u * q_i))."""
    _check_sizes(n_users, n_items)
    user, item = _id_inputs()
    x = _gmf_vector(user, item, n_users, n_items, n_factors, l2, seed)
    return keras.Model({"user_id": user, "item_id": item}, _squeeze(_prediction(x, seed)), name=name)


def build_mlp(n_users: int, n_items: int, layers=(64, 32, 16, 8), l2: float = 0.0, seed: int | None = None,
              name: str = "mlp") -> keras.Model:
    """MLP over the concatenated user and item embeddings."""
    _check_sizes(n_users, n_items)
    user, item = _id_inputs()
    x = _mlp_vector(user, item, n_users, n_items, tuple(layers), l2, seed)
    return keras.Model({"user_id": user, "item_id": item}, _squeeze(_prediction(x, seed)), name=name)


def build_neumf(n_users: int, n_items: int, n_factors: int = 8, layers=(64, 32, 16, 8), l2: float = 0.0,
                seed: int | None = None, name: str = "neumf") -> keras.Model:
    """NeuMF: GMF and MLP towers with separate embeddings, concatenated into one sigmoid unit."""
    _check_sizes(n_users, n_items)
    user, item = _id_inputs()
    g = _gmf_vector(user, item, n_users, n_items, n_factors, l2, seed)
    m = _mlp_vector(user, item, n_users, n_items, tuple(layers), l2, seed)
    x = L.Concatenate(name="neumf_concat")([g, m])
    return keras.Model({"user_id": user, "item_id": item}, _squeeze(_prediction(x, seed)), name=name)


@keras.saving.register_keras_serializable(package="hncf")
class DotWithBias(keras.layers.Layer):
    """sigmoid(p_u . q_i + b_u + b_i + b): the biased dot product of classic MF.

    A layer of its own (not a Lambda) so saved models reload with ``safe_mode=True``.
    """

    def build(self, input_shape):
        self.global_bias = self.add_weight(shape=(), initializer="zeros", name="global_bias")

    def call(self, inputs):
        p, q, bu, bi = inputs
        logit = keras.ops.sum(p * q, axis=-1) + keras.ops.squeeze(bu, -1) + keras.ops.squeeze(bi, -1)
        return keras.ops.sigmoid(logit + self.global_bias)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0][:-1]


def build_mf(n_users: int, n_items: int, n_factors: int = 32, l2: float = 0.0, seed: int | None = None,
             name: str = "mf", l2_example: float = 0.0) -> keras.Model:
    """Dot-product matrix factorisation with user, item and global biases (Rendle et al. 2020).

    ``l2`` penalises the whole embedding tables; ``l2_example`` the looked-up vectors of each
    example (mean over the batch of ``l2_example * (|p_u|^2 + |q_i|^2)``), Rendle's regulariser.
    """
    _check_sizes(n_users, n_items)
    if l2 < 0 or l2_example < 0:
        raise ValueError(f"L2 weights must be >= 0, got l2={l2}, l2_example={l2_example}")
    user, item = _id_inputs()
    p = _embedding(n_users, n_factors, "mf_user_embedding", l2, seed, l2_example)(user)
    q = _embedding(n_items, n_factors, "mf_item_embedding", l2, None if seed is None else seed + 1, l2_example)(item)
    bu = L.Embedding(n_users, 1, embeddings_initializer="zeros", name="mf_user_bias")(user)
    bi = L.Embedding(n_items, 1, embeddings_initializer="zeros", name="mf_item_bias")(item)
    out = DotWithBias(name="score")([p, q, bu, bi])
    return keras.Model({"user_id": user, "item_id": item}, out, name=name)


def load_pretrained_neumf(neumf: keras.Model, gmf: keras.Model, mlp: keras.Model, alpha: float = 0.5) -> keras.Model:
    """Initialise NeuMF from trained GMF and MLP models (He et al. 2017, Sec. 3.4.1).

    Embeddings and hidden layers are copied by name; the output layer is
    ``[alpha * h_gmf ; (1 - alpha) * h_mlp]`` with bias ``alpha * b_gmf + (1 - alpha) * b_mlp``.
    """
    for layer in neumf.layers:
        source = gmf if layer.name.startswith("gmf_") else mlp if layer.name.startswith("mlp_") else None
        if source is None or not layer.weights:
            continue
        try:
            src = source.get_layer(layer.name)
        except ValueError as e:
            raise ValueError(f"pretrained {source.name} has no layer {layer.name!r}") from e
        src_shapes = [w.shape for w in src.get_weights()]
        dst_shapes = [w.shape for w in layer.get_weights()]
        if src_shapes != dst_shapes:
            raise ValueError(
                f"layer {layer.name!r}: pretrained shapes {src_shapes} do not match NeuMF shapes {dst_shapes}"
            )
        layer.set_weights(src.get_weights())
    g_kernel, g_bias = gmf.get_layer("prediction").get_weights()
    m_kernel, m_bias = mlp.get_layer("prediction").get_weights()
    kernel = np.concatenate([alpha * g_kernel, (1 - alpha) * m_kernel], axis=0)
    neumf.get_layer("prediction").set_weights([kernel, alpha * g_bias + (1 - alpha) * m_bias])
    return neumf


class PopularityModel:
    """Scores an item by its number of training interactions (the same list for every user)."""

    def __init__(self, n_items: int):
        self.n_items = n_items
        self.counts = np.zeros(n_items, dtype=np.float64)

    def fit(self, items: np.ndarray) -> "PopularityModel":
        """Count training interactions per item index."""
        self.counts = np.bincount(np.asarray(items, dtype=np.int64), minlength=self.n_items).astype(np.float64)
        return self

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Scores for (user, item) pairs: the item's training count."""
        return self.counts[np.asarray(items, dtype=np.int64)]


BUILDERS = {"gmf": build_gmf, "mlp": build_mlp, "neumf": build_neumf, "mf": build_mf}
