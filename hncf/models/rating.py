"""Rating models of the NCF + SBERT paper and their fold-in of a new user.

* :func:`build_ncf_rating`: the paper's NCF (GMF + MLP towers, NeuMF-style) trained on ratings with mean
  squared error, its score in [-1, 1] (a ``tanh`` output on ratings scaled by :func:`scale_ratings`).
  Unlike the paper's code, the GMF tower is really trained (its embeddings are ordinary trainable layers
  and a test checks that they move).
* :func:`build_biased_mf`: the baseline, ``mu + b_u + b_i + p_u . q_i`` with the same loss.
* Fold-in of a person who is not in the training data, from the titles they ticked:
  :func:`fold_in_mf` solves the biased-MF user vector in closed form (ridge least squares, exact and
  about a microsecond for a 32-d factor); :class:`NCFFoldIn` runs a few gradient steps on fresh GMF and
  MLP user vectors with every item weight frozen (the NCF score is not linear in the user vector, so
  there is no closed form). Both start from the average training user; MF is pulled towards it by a
  ridge term, NCF stops after a fixed number of steps (a pull there hurt on validation users).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers as L

from hncf.models.ncf import _embedding, _gmf_vector, _id_inputs, _mlp_vector


def scale_ratings(r, lo: float, hi: float) -> np.ndarray:
    """Ratings on ``[lo, hi]`` mapped linearly to ``[-1, 1]`` (the paper's score range)."""
    return (2.0 * (np.asarray(r, dtype=np.float32) - lo) / (hi - lo) - 1.0).astype(np.float32)


def unscale_ratings(s, lo: float, hi: float) -> np.ndarray:
    """Inverse of :func:`scale_ratings`, clipped to ``[lo, hi]``."""
    return np.clip(lo + (np.asarray(s, dtype=np.float64) + 1.0) * (hi - lo) / 2.0, lo, hi)


def build_ncf_rating(n_users: int, n_items: int, n_factors: int = 16, layers=(64, 32, 16), l2: float = 1e-6,
                     seed: int | None = 0, name: str = "ncf_rating") -> keras.Model:
    """GMF + MLP towers concatenated into one ``tanh`` unit: a rating score in [-1, 1]."""
    user, item = _id_inputs()
    g = _gmf_vector(user, item, n_users, n_items, n_factors, l2, seed)
    m = _mlp_vector(user, item, n_users, n_items, tuple(layers), l2, seed)
    x = L.Concatenate(name="neumf_concat")([g, m])
    out = L.Dense(1, activation="tanh", name="rating",
                  kernel_initializer=keras.initializers.LecunUniform(seed=None if seed is None else seed + 99))(x)
    return keras.Model({"user_id": user, "item_id": item}, L.Reshape((), name="score")(out), name=name)


@keras.saving.register_keras_serializable(package="hncf")
class BiasedDot(keras.layers.Layer):
    """``p_u . q_i + b_u + b_i + mu``: the linear score of biased matrix factorisation."""

    def build(self, input_shape):
        self.global_bias = self.add_weight(shape=(), initializer="zeros", name="global_bias")

    def call(self, inputs):
        p, q, bu, bi = inputs
        return (keras.ops.sum(p * q, axis=-1) + keras.ops.squeeze(bu, -1) + keras.ops.squeeze(bi, -1)
                + self.global_bias)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0][:-1]


def build_biased_mf(n_users: int, n_items: int, n_factors: int = 32, l2: float = 1e-5, seed: int | None = 0,
                    name: str = "biased_mf") -> keras.Model:
    """Biased matrix factorisation for rating prediction (the classic Netflix Prize baseline)."""
    user, item = _id_inputs()
    p = _embedding(n_users, n_factors, "mf_user_embedding", l2, seed)(user)
    q = _embedding(n_items, n_factors, "mf_item_embedding", l2, None if seed is None else seed + 1)(item)
    bu = L.Embedding(n_users, 1, embeddings_initializer="zeros", name="mf_user_bias")(user)
    bi = L.Embedding(n_items, 1, embeddings_initializer="zeros", name="mf_item_bias")(item)
    return keras.Model({"user_id": user, "item_id": item}, BiasedDot(name="score")([p, q, bu, bi]), name=name)


def compile_rating(model: keras.Model, learning_rate: float = 2e-3, steps_per_execution: int = 1) -> keras.Model:
    """Adam on mean squared error: the model owns its loss (the paper's MSE).

    Train it with :func:`hncf.pipeline.rating.fit_rating_model` (selection on validation RMSE,
    refit, checkpoints), or with plain ``model.fit`` on (user, item, :func:`scale_ratings`) arrays.
    """
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse",
                  steps_per_execution=steps_per_execution, jit_compile=False)
    return model


def predict_scores(model: keras.Model, users, items, batch_size: int = 1 << 15) -> np.ndarray:
    """Model scores for (user, item) pairs, batched."""
    x = {"user_id": np.asarray(users, np.int32), "item_id": np.asarray(items, np.int32)}
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0)).reshape(-1)


# ---------------------------------------------------------------------------
# Fold-in of a new user
# ---------------------------------------------------------------------------


def mf_factors(model: keras.Model) -> dict:
    """Item factors ``Q``, item biases, global bias and the mean user factor of a biased-MF model."""
    return {"Q": model.get_layer("mf_item_embedding").get_weights()[0],
            "b_i": model.get_layer("mf_item_bias").get_weights()[0][:, 0],
            "mu": float(model.get_layer("score").get_weights()[0]),
            "p0": model.get_layer("mf_user_embedding").get_weights()[0].mean(axis=0)}


def fold_in_mf(factors: dict, liked, target: float = 1.0, reg: float = 1.0) -> np.ndarray:
    """Closed-form fold-in: scores ``[n_items]`` for a new user who gave ``target`` to the ``liked`` items.

    Solves ``min_{p, b} sum_i (target - mu - b_i - b - q_i.p)^2 + reg * |p - p0|^2 + reg * b^2`` (ridge
    towards the average user ``p0``), then scores every item by ``mu + b + b_i + q_i.p``.
    """
    liked = np.asarray(liked, dtype=np.int64).reshape(-1)
    Q, b_i, mu, p0 = factors["Q"], factors["b_i"], factors["mu"], factors["p0"]
    A = np.concatenate([Q[liked], np.ones((len(liked), 1), Q.dtype)], axis=1).astype(np.float64)
    prior = np.concatenate([p0, [0.0]])
    y = target - mu - b_i[liked] - A @ prior
    sol = prior + np.linalg.solve(A.T @ A + reg * np.eye(A.shape[1]), A.T @ y)
    return (mu + sol[-1] + b_i + Q @ sol[:-1]).astype(np.float32)


def map_cold_items(factors: dict, item_vectors: np.ndarray, warm: np.ndarray, counts: np.ndarray,
                   reg: float = 10.0) -> dict:
    """Biased-MF factors where items never rated in training get factors predicted from their content.

    A ridge regression from ``[content vector, 1]`` to ``[q_i, b_i]``, fitted on the warm items (each
    weighted by the square root of its rating count), fills in the cold items' rows, so a folded-in user
    can score movies nobody has rated yet. Warm items keep their trained factors.
    """
    warm = np.asarray(warm, bool)
    X = np.concatenate([item_vectors, np.ones((len(item_vectors), 1), item_vectors.dtype)], axis=1).astype(np.float64)
    T = np.concatenate([factors["Q"], factors["b_i"][:, None]], axis=1).astype(np.float64)
    w = np.sqrt(np.asarray(counts, np.float64)[warm])[:, None]
    Xw = X[warm]
    W = np.linalg.solve(Xw.T @ (Xw * w) + reg * np.eye(X.shape[1]), Xw.T @ (T[warm] * w))
    pred = X @ W
    out = dict(factors)
    out["Q"] = np.where(warm[:, None], factors["Q"], pred[:, :-1]).astype(np.float32)
    out["b_i"] = np.where(warm, factors["b_i"], pred[:, -1]).astype(np.float32)
    return out


class NCFFoldIn:
    """Fold a new user into a trained :func:`build_ncf_rating` model by gradient steps, items frozen.

    The new user's GMF and MLP vectors start at the average training user and take ``steps`` Adam
    steps on ``mean_i (score(u, i) - target)^2 + reg * |u - u0|^2`` over the liked items; no item weight
    or layer changes, so one trained model serves every visitor without retraining. ``scores(liked)``
    then scores the whole catalogue in one batched pass.

    The forward and backward passes are written out in NumPy (float64) over the model's weights: a
    request folds in from 3-10 ticks, where TensorFlow's per-op dispatch (about 1 ms per Adam step) would
    dominate; the gradient is checked against TensorFlow's autodiff in the tests.
    """

    def __init__(self, model: keras.Model, steps: int = 50, learning_rate: float = 0.1, reg: float = 0.0,
                 target: float = 1.0):
        self.model = model
        self.steps, self.learning_rate, self.reg, self.target = int(steps), float(learning_rate), float(reg), \
            float(target)
        w = lambda name: model.get_layer(name).get_weights()  # noqa: E731
        self.item_gmf = w("gmf_item_embedding")[0].astype(np.float64)
        self.item_mlp = w("mlp_item_embedding")[0].astype(np.float64)
        self.u0_gmf = w("gmf_user_embedding")[0].mean(axis=0).astype(np.float64)
        self.u0_mlp = w("mlp_user_embedding")[0].mean(axis=0).astype(np.float64)
        self.dense = [tuple(a.astype(np.float64) for a in w(layer.name)) for layer in model.layers
                      if layer.name.startswith("mlp_layer_")]
        self.out_kernel, self.out_bias = (a.astype(np.float64) for a in w("rating"))
        self.n_items = int(self.item_gmf.shape[0])

    def forward(self, u_gmf, u_mlp, items=None, keep: bool = False):
        """Scores in [-1, 1] of ``items`` (all when None) for user vectors; with ``keep`` also the activations."""
        eg = self.item_gmf if items is None else self.item_gmf[items]
        em = self.item_mlp if items is None else self.item_mlp[items]
        x = np.concatenate([np.broadcast_to(u_mlp, (len(em), len(u_mlp))), em], axis=1)
        acts = [x]
        for kernel, bias in self.dense:
            x = np.maximum(x @ kernel + bias, 0.0)
            acts.append(x)
        c = np.concatenate([eg * u_gmf, x], axis=1)
        p = np.tanh(c @ self.out_kernel + self.out_bias)[:, 0]
        return (p, eg, acts) if keep else p

    def loss_and_grads(self, u_gmf, u_mlp, liked):
        """The fold-in loss and its gradients with respect to the two user vectors."""
        p, eg, acts = self.forward(u_gmf, u_mlp, liked, keep=True)
        n, d = len(p), len(u_gmf)
        loss = np.mean((p - self.target) ** 2) + self.reg * (np.sum((u_gmf - self.u0_gmf) ** 2)
                                                             + np.sum((u_mlp - self.u0_mlp) ** 2))
        ds = (2.0 / n) * (p - self.target) * (1.0 - p * p)
        dc = ds[:, None] * self.out_kernel[:, 0][None, :]
        g_gmf = (dc[:, :d] * eg).sum(axis=0) + 2 * self.reg * (u_gmf - self.u0_gmf)
        dx = dc[:, d:]
        for (kernel, _), out in zip(self.dense[::-1], acts[:0:-1]):
            dx = (dx * (out > 0)) @ kernel.T
        g_mlp = dx[:, :len(u_mlp)].sum(axis=0) + 2 * self.reg * (u_mlp - self.u0_mlp)
        return loss, g_gmf, g_mlp

    def fold(self, liked) -> tuple[np.ndarray, np.ndarray]:
        """The folded-in ``(gmf, mlp)`` user vectors for the liked item indices (Adam, fixed step count)."""
        liked = np.asarray(liked, dtype=np.int64).reshape(-1)
        if len(liked) == 0:
            raise ValueError("fold-in needs at least one liked item")
        if liked.min() < 0 or liked.max() >= self.n_items:
            raise ValueError(f"liked item index out of range [0, {self.n_items})")
        u = [self.u0_gmf.copy(), self.u0_mlp.copy()]
        m = [np.zeros_like(v) for v in u]
        v2 = [np.zeros_like(v) for v in u]
        b1, b2, eps = 0.9, 0.999, 1e-8
        for t in range(1, self.steps + 1):
            _, *grads = self.loss_and_grads(u[0], u[1], liked)
            for k, g in enumerate(grads):
                m[k] = b1 * m[k] + (1 - b1) * g
                v2[k] = b2 * v2[k] + (1 - b2) * g * g
                u[k] = u[k] - self.learning_rate * (m[k] / (1 - b1 ** t)) / (np.sqrt(v2[k] / (1 - b2 ** t)) + eps)
        return u[0], u[1]

    def scores(self, liked, items=None) -> np.ndarray:
        """Scores in [-1, 1] of ``items`` (default: every item) for a new user who liked the indices ``liked``."""
        return self.forward(*self.fold(liked), items=items).astype(np.float32)

    def user_vectors(self, liked) -> tuple[np.ndarray, np.ndarray]:
        """The folded-in ``(gmf, mlp)`` user vectors (for tests and inspection)."""
        return self.fold(liked)

    def scores_for_known_user(self, user: int) -> np.ndarray:
        """Scores of every item for a training user, through the same forward pass (parity check)."""
        u_g = self.model.get_layer("gmf_user_embedding").get_weights()[0][user].astype(np.float64)
        u_m = self.model.get_layer("mlp_user_embedding").get_weights()[0][user].astype(np.float64)
        return self.forward(u_g, u_m)


def zscore(x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``(x - mean) / sd`` over the entries in ``mask`` (all when None); entries outside it become 0."""
    x = np.asarray(x, dtype=np.float64)
    m = np.ones(x.shape[-1], bool) if mask is None else np.asarray(mask, bool)
    if not m.any():
        return np.zeros_like(x)
    mean, sd = x[..., m].mean(axis=-1, keepdims=True), x[..., m].std(axis=-1, keepdims=True)
    z = (x - mean) / np.maximum(sd, 1e-12)
    return np.where(m, z, 0.0)


def blend_scores(content: np.ndarray, collaborative: np.ndarray | None, weight: float,
                 has_signal: np.ndarray | None = None) -> np.ndarray:
    """``(1 - weight) * z(content) + weight * z(collaborative)``, each standardised over the catalogue.

    Items without collaborative signal (``has_signal`` False: never rated in training, or not linked to
    the ratings) get a neutral collaborative term of 0, so they compete on content alone.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"blend weight must lie in [0, 1], got {weight}")
    zc = zscore(content)
    if collaborative is None or weight == 0.0:
        return zc
    return (1.0 - weight) * zc + weight * zscore(collaborative, has_signal)


__all__ = ["BiasedDot", "NCFFoldIn", "blend_scores", "map_cold_items", "build_biased_mf", "build_ncf_rating", "compile_rating",
           "fold_in_mf", "mf_factors", "predict_scores", "scale_ratings", "unscale_ratings", "zscore"]
