"""BERT query recommender (the third paper): a free-text request -> one logit per catalogue movie.

``f(U) = FFN(BERT_CLS(U))`` (variant ``"bert"``), ``f(U) = FFN(BERT_CLS(U), RNN(L(U)))`` with a GRU
over the movies mentioned in the request (``"rnn"``), and the same model trained with the
MovieLens tags -> movie task interleaved (``"tags"``; the tag rows go through the same text
pathway with an empty mention list). FFN: Dense(hidden 256, ReLU) -> Dropout(0.3) -> Dense(n_movies).

Two execution paths share one head whose layers have fixed names:

* cached (``text_layer=None``): the input ``text_vector`` is the frozen encoder's vector of the
  request, computed once per text and stored (the CPU default);
* end to end (``text_layer=BertTextEmbedding``): the input ``text`` is the raw request, encoded on
  every batch (the paper's way; trainable to fine-tune BERT).

:func:`copy_head_weights` moves a head between the two paths, so both give the same predictions.

``copy_mentions`` (ours, off in the paper preset) adds a learned per-position boost to the logits of
movies already mentioned in the request, most recent first: a copy mechanism that lets the model
learn how often people re-recommend what was said. The boost starts at the training data's
log-odds of re-recommendation (:func:`copy_boost_init`): started at zero, Adam moves a scalar by
about the learning rate per step, so in a short CPU run it stayed near 1.3 where the data asks
for about 6 above a mentioned movie's average popularity bias.

``cooccurrence`` (ours, off in the paper preset) adds ``alpha * log(1 + c_j)`` to movie j's logit,
where ``c_j`` sums, over the movies mentioned in the request, how many training dialogues each
shared with j (:class:`MentionCooccurrence`, a table of each movie's top neighbours carried in
the saved model). It is the co-occurrence baseline as a feature: with 1.3k training dialogues a
6,924-way output layer never sees most movies, and the table pools what every dialogue said.

The loss :class:`QueryLoss` reads a task flag in the last column of ``y_true``: rows with flag 0
are the main task (multi-label binary cross-entropy summed over movies, as the paper's
``sum_i BCE(f(U)_i, y_i)``), rows with flag 1 the tag task (softmax cross-entropy on a one-hot movie).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers as L
from keras import ops

VARIANTS = ("bert", "rnn", "tags")
TEXT_FEATURES = "text_features"
HEAD_PREFIXES = ("query_", "mention_", "movie_logits")


@keras.saving.register_keras_serializable(package="hncf")
class QueryLoss(keras.losses.Loss):
    """Multi-label BCE (summed over movies) for main rows, softmax CE for tag rows; flag in the last column."""

    def __init__(self, name: str = "query_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        labels = ops.cast(y_true[:, :-1], y_pred.dtype)
        is_tag = ops.cast(y_true[:, -1], y_pred.dtype)
        bce = ops.sum(ops.maximum(y_pred, 0) - y_pred * labels + ops.log1p(ops.exp(-ops.abs(y_pred))), axis=-1)
        ce = -ops.sum(labels * ops.log_softmax(y_pred, axis=-1), axis=-1)
        return (1.0 - is_tag) * bce + is_tag * ce


def _mentioned(mentions, n_movies: int, dtype):
    """0/1 ``[batch, n_movies]``: which movies ``mentions`` (index + 1, 0 = padding) name."""
    onehot = ops.one_hot(mentions, n_movies + 1, dtype=dtype)[:, :, 1:]
    return ops.max(onehot, axis=1)


@keras.saving.register_keras_serializable(package="hncf")
class MentionCopy(keras.layers.Layer):
    """Adds ``w[r] + offset[j]`` to the logit of movie j mentioned r-th from the end (``r < max_rank``; 0 = latest).

    ``mentions`` are catalogue indices + 1 with 0 as padding, oldest first, right-aligned; a movie
    mentioned several times gets the boost of its latest mention. ``offset`` (non-trainable, saved
    with the weights; zeros unless set) lets a mentioned movie's logit forget its popularity bias:
    with ``offset = -output_bias`` a mentioned movie scores ``w[r]`` plus its text logit, whatever its
    popularity (people re-recommend what was just said, popular or not).
    """

    def __init__(self, n_movies: int, max_rank: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.n_movies, self.max_rank = int(n_movies), int(max_rank)

    def build(self, input_shape):
        self.boost = self.add_weight(name="boost", shape=(self.max_rank + 1,), initializer="zeros")
        self.offset = self.add_weight(name="offset", shape=(self.n_movies,), initializer="zeros", trainable=False)

    def call(self, inputs):
        logits, mentions = inputs
        length = ops.shape(mentions)[1]
        # Distance from the end of the (right-aligned) sequence, capped at max_rank.
        rank = ops.minimum(ops.flip(ops.arange(length), axis=0), self.max_rank)
        weights = ops.where(mentions > 0, ops.take(self.boost, rank)[None, :], -1e9)
        onehot = ops.one_hot(mentions, self.n_movies + 1, dtype=logits.dtype)[:, :, 1:]
        best = ops.max(onehot * weights[:, :, None] + (onehot - 1.0) * 1e9, axis=1)  # most recent mention's boost
        mentioned = best > -1e8
        return logits + ops.where(mentioned, best + ops.cast(self.offset, logits.dtype)[None, :], 0.0)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "n_movies": self.n_movies, "max_rank": self.max_rank}


def copy_boost_init(mentions, targets, base_logits: np.ndarray, max_rank: int = 8) -> np.ndarray:
    """Starting boosts for :class:`MentionCopy`: per recency rank, logit(share of mentions that are targets) - mean base logit.

    ``mentions``/``targets``: per example, catalogue indices (mentions oldest first); ``base_logits``:
    each mentioned movie's starting logit before the boost (zeros when the copy offset cancels the
    output bias). Ranks with no data start at 0.
    """
    lengths = np.array([len(m) for m in mentions], dtype=np.int64)
    boost = np.zeros(max_rank + 1, np.float32)
    if not lengths.sum():
        return boost
    rows = np.repeat(np.arange(len(mentions)), lengths)
    movies = np.concatenate([np.asarray(m, np.int64) for m in mentions if len(m)])
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    rank = np.minimum(np.repeat(lengths, lengths) - 1 - (np.arange(lengths.sum()) - starts), max_rank)
    t_len = np.array([len(t) for t in targets], dtype=np.int64)
    t_rows = np.repeat(np.arange(len(targets)), t_len)
    t_movies = np.concatenate([np.asarray(t, np.int64) for t in targets if len(t)]) if t_len.sum() else t_len
    n = max(int(movies.max()), int(t_movies.max()) if t_movies.size else 0) + 1
    hit = np.isin(rows * n + movies, t_rows * n + t_movies)
    for r in range(max_rank + 1):  # at most max_rank + 1 iterations: not a per-item loop
        at = rank == r
        if at.any():
            share = np.clip(hit[at].mean(), 1e-3, 1 - 1e-3)
            boost[r] = np.log(share / (1 - share)) - float(np.mean(base_logits[movies[at]]))
    return boost


def top_neighbours(cooccurrence, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each movie's ``k`` most frequent co-occurring movies: ``(ids + 1, counts)``, each ``[n + 1, k]``, row 0 = padding.

    ``cooccurrence`` is a square scipy sparse matrix of shared-dialogue counts (diagonal ignored);
    unused slots hold id 0 and count 0.
    """
    c = cooccurrence.tocoo()
    keep = c.row != c.col
    row, col, val = c.row[keep], c.col[keep], c.data[keep].astype(np.float32)
    order = np.lexsort((col, -val, row))  # by row, then most frequent first, ties by lower id
    row, col, val = row[order], col[order], val[order]
    n = cooccurrence.shape[0]
    first = np.searchsorted(row, np.arange(n))
    rank = np.arange(row.size) - first[row]
    sel = rank < k
    ids = np.zeros((n + 1, k), np.int32)
    counts = np.zeros((n + 1, k), np.float32)
    ids[row[sel] + 1, rank[sel]] = col[sel] + 1
    counts[row[sel] + 1, rank[sel]] = val[sel]
    return ids, counts


@keras.saving.register_keras_serializable(package="hncf")
class MentionCooccurrence(keras.layers.Layer):
    """Adds ``alpha * log1p(sum_m count(m, j))`` to movie j's logit, m over the mentioned movies.

    The neighbour table (:func:`top_neighbours`) is a pair of non-trainable weights, so a saved
    model carries it; ``alpha`` is learned. A movie mentioned twice counts twice. Movies mentioned
    in the request get no prior: the copy boost speaks for them.
    """

    def __init__(self, n_movies: int, neighbours: int = 100, alpha: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.n_movies, self.neighbours, self.alpha_init = int(n_movies), int(neighbours), float(alpha)

    def build(self, input_shape):
        shape = (self.n_movies + 1, self.neighbours)
        self.neighbour_ids = self.add_weight(name="neighbour_ids", shape=shape, dtype="int32",
                                             initializer="zeros", trainable=False)
        self.neighbour_counts = self.add_weight(name="neighbour_counts", shape=shape, initializer="zeros",
                                                trainable=False)
        self.alpha = self.add_weight(name="alpha", shape=(), initializer=keras.initializers.Constant(self.alpha_init))

    def set_table(self, ids: np.ndarray, counts: np.ndarray) -> None:
        """Load a :func:`top_neighbours` table (its width must equal ``neighbours``)."""
        if ids.shape != (self.n_movies + 1, self.neighbours) or counts.shape != ids.shape:
            raise ValueError(f"neighbour table of shape {ids.shape} does not fit {self.n_movies} movies x "
                             f"{self.neighbours} neighbours")
        self.neighbour_ids.assign(ids.astype("int32"))
        self.neighbour_counts.assign(counts.astype("float32"))

    def call(self, inputs):
        logits, mentions = inputs
        ids = ops.take(self.neighbour_ids, mentions, axis=0)  # [batch, mentions, neighbours]; padding row is empty
        counts = ops.take(self.neighbour_counts, mentions, axis=0)
        batch = ops.shape(mentions)[0]
        rows = ops.broadcast_to(ops.reshape(ops.arange(batch, dtype="int32"), (-1, 1, 1)), ops.shape(ids))
        index = ops.stack([ops.reshape(rows, (-1,)), ops.reshape(ids, (-1,))], axis=1)
        # Column 0 collects the empty slots; it is dropped, so slot ids are movie index + 1.
        summed = ops.scatter(index, ops.reshape(counts, (-1,)), (batch, self.n_movies + 1))[:, 1:]
        prior = ops.log1p(ops.cast(summed, logits.dtype)) * (1.0 - _mentioned(mentions, self.n_movies, logits.dtype))
        return logits + ops.cast(self.alpha, logits.dtype) * prior

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "n_movies": self.n_movies, "neighbours": self.neighbours,
                "alpha": self.alpha_init}


@keras.saving.register_keras_serializable(package="hncf")
class MovieTextLogits(keras.layers.Layer):
    """``h . (P v_j)`` for every movie j: the request's hidden vector against each movie's projected text vector.

    ``v_j`` (the frozen encoder's vector of the movie's title, year, genres and tags) is a
    non-trainable weight, saved with the model; ``P`` is learned. Unlike a free output row, this
    scores movies no training dialogue suggested, through what their text shares with ones that were.
    """

    def __init__(self, n_movies: int, text_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.n_movies, self.text_dim = int(n_movies), int(text_dim)

    def build(self, input_shape):
        self.movie_vectors = self.add_weight(name="movie_vectors", shape=(self.n_movies, self.text_dim),
                                             initializer="zeros", trainable=False)
        self.projection = self.add_weight(name="projection", shape=(self.text_dim, int(input_shape[-1])),
                                          initializer=keras.initializers.GlorotUniform(seed=0))

    def call(self, hidden):
        movies = ops.matmul(ops.cast(self.movie_vectors, hidden.dtype), ops.cast(self.projection, hidden.dtype))
        return ops.matmul(hidden, ops.transpose(movies))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_movies)

    def get_config(self):
        return {**super().get_config(), "n_movies": self.n_movies, "text_dim": self.text_dim}


@keras.saving.register_keras_serializable(package="hncf")
class QueryRecommender(keras.Model):
    """The query recommender as a functional model built in ``__init__`` (keras-hub style).

    Inputs: ``text_vector`` float32 [text_dim] (cached path) or ``text`` string (end to end, with
    ``text_layer``); with ``variant in ("rnn", "tags")`` or ``copy_mentions`` also ``mentions``
    int32 [max_mentions] (catalogue index + 1, 0 = padding, right-aligned). Output: ``movie_logits``
    [n_movies]. ``output_bias`` (init only) sets the starting logits, e.g. to log-odds of popularity;
    ``copy_init`` (init only) the copy boosts (with an output bias, mentioned movies drop it: see
    :class:`MentionCopy`); ``neighbour_table`` (init only; saved with the
    weights) the ``(ids, counts)`` of :class:`MentionCooccurrence`, needed when ``cooccurrence > 0``
    (its width in neighbours).
    """

    def __init__(self, n_movies: int, text_dim: int | None = None, text_layer=None, variant: str = "bert",
                 hidden: int = 256, dropout: float = 0.3, rnn_embedding: int = 256, rnn_hidden: int = 128,
                 max_mentions: int = 20, copy_mentions: bool = False, cooccurrence: int = 0,
                 movie_text_dim: int = 0, seed: int | None = None, output_bias=None, copy_init=None,
                 neighbour_table=None, movie_vectors=None, **kwargs):
        if variant not in VARIANTS:
            raise ValueError(f"unknown query-recommender variant {variant!r}; known: {', '.join(VARIANTS)}")
        if isinstance(text_layer, dict):
            text_layer = keras.saving.deserialize_keras_object(text_layer)
        if (text_layer is None) == (text_dim is None):
            raise ValueError("give exactly one of text_dim (cached path) and text_layer (end to end)")
        if n_movies < 1:
            raise ValueError(f"n_movies must be >= 1, got {n_movies}")

        def init(k):
            return keras.initializers.GlorotUniform(seed=None if seed is None else seed + k)

        inputs = {}
        if text_layer is None:
            text = inputs["text_vector"] = keras.Input(shape=(int(text_dim),), name="text_vector")
        else:
            inputs["text"] = keras.Input(shape=(), dtype="string", name="text")
            text = L.Identity(name=TEXT_FEATURES)(text_layer(inputs["text"]))
        uses_rnn = variant in ("rnn", "tags")
        parts = [text]
        if uses_rnn or copy_mentions or cooccurrence:
            inputs["mentions"] = keras.Input(shape=(int(max_mentions),), dtype="int32", name="mentions")
        if uses_rnn:
            e = L.Embedding(n_movies + 1, rnn_embedding, mask_zero=True, embeddings_initializer=
                            keras.initializers.RandomUniform(-0.05, 0.05, seed=None if seed is None else seed + 1),
                            name="mention_embedding")(inputs["mentions"])
            parts.append(L.GRU(rnn_hidden, kernel_initializer=init(2), name="mention_gru")(e))
        x = L.Concatenate(name="query_concat")(parts) if len(parts) > 1 else parts[0]
        x = L.Dense(hidden, activation="relu", kernel_initializer=init(3), name="query_dense")(x)
        x = L.Dropout(dropout, seed=None if seed is None else seed + 4, name="query_dropout")(x)
        bias = "zeros" if output_bias is None else keras.initializers.Constant(np.asarray(output_bias, "float32"))
        extras = bool(copy_mentions or cooccurrence or movie_text_dim)
        logits = L.Dense(n_movies, kernel_initializer=init(5), bias_initializer=bias,
                         name="movie_logits_base" if extras else "movie_logits")(x)
        if movie_text_dim:
            tied = MovieTextLogits(n_movies, movie_text_dim, name="movie_logits_text")
            logits = L.Add(name="movie_logits_sum")([logits, tied(x)])
            if movie_vectors is not None:
                tied.movie_vectors.assign(np.asarray(movie_vectors, "float32"))
        if cooccurrence:
            prior = MentionCooccurrence(n_movies, int(cooccurrence), name="mention_cooccurrence")
            logits = prior([logits, inputs["mentions"]])
            if neighbour_table is not None:
                prior.set_table(*neighbour_table)
        if copy_mentions:
            copy_layer = MentionCopy(n_movies, name="mention_copy")
            logits = copy_layer([logits, inputs["mentions"]])
            if copy_init is not None:
                copy_layer.boost.assign(np.asarray(copy_init, "float32"))
            if output_bias is not None:
                copy_layer.offset.assign(-np.asarray(output_bias, "float32"))
        if extras:
            logits = L.Identity(name="movie_logits")(logits)
        super().__init__(inputs, logits, **kwargs)
        self.n_movies, self.text_dim, self.text_layer = int(n_movies), text_dim, text_layer
        self.variant, self.hidden, self.dropout_rate = variant, int(hidden), float(dropout)
        self.rnn_embedding, self.rnn_hidden, self.max_mentions = int(rnn_embedding), int(rnn_hidden), int(max_mentions)
        self.copy_mentions, self.cooccurrence, self.seed = bool(copy_mentions), int(cooccurrence), seed
        self.movie_text_dim = int(movie_text_dim)

    @property
    def uses_mentions(self) -> bool:
        """Whether the model takes the ``mentions`` input."""
        return "mentions" in self.input

    def get_config(self) -> dict:
        """Constructor arguments (the text layer serialised with its backbone; weights travel separately)."""
        return {"name": self.name, "trainable": self.trainable, "n_movies": self.n_movies, "text_dim": self.text_dim,
                "text_layer": None if self.text_layer is None else keras.saving.serialize_keras_object(self.text_layer),
                "variant": self.variant, "hidden": self.hidden, "dropout": self.dropout_rate,
                "rnn_embedding": self.rnn_embedding, "rnn_hidden": self.rnn_hidden,
                "max_mentions": self.max_mentions, "copy_mentions": self.copy_mentions,
                "cooccurrence": self.cooccurrence, "movie_text_dim": self.movie_text_dim, "seed": self.seed}

    @classmethod
    def from_config(cls, config: dict):
        """Inverse of :meth:`get_config`."""
        return cls(**config)


def compile_query(model: keras.Model, learning_rate: float, steps_per_execution: int = 1) -> keras.Model:
    """Adam + :class:`QueryLoss` (the model owns its loss; the trainer does not know it)."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=QueryLoss(),
                  steps_per_execution=steps_per_execution, jit_compile=False)
    return model


def pad_mentions(mentions, max_mentions: int) -> np.ndarray:
    """Lists of catalogue indices -> int32 ``[n, max_mentions]`` of index + 1, right-aligned, latest kept."""
    out = np.zeros((len(mentions), int(max_mentions)), dtype=np.int32)
    lengths = np.array([min(len(m), max_mentions) for m in mentions], dtype=np.int64)
    if lengths.sum():
        flat = np.concatenate([np.asarray(m, dtype=np.int64)[len(m) - n:] for m, n in zip(mentions, lengths)])
        rows = np.repeat(np.arange(len(mentions)), lengths)
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        cols = max_mentions - np.repeat(lengths, lengths) + (np.arange(lengths.sum()) - starts)
        out[rows, cols] = flat + 1
    return out


def copy_head_weights(source: keras.Model, target: keras.Model) -> keras.Model:
    """Copy every head layer (mention branch, FFN, logits, copy boost, co-occurrence table) by name between the two paths."""
    copied = 0
    for layer in target.layers:
        if layer.weights and layer.name.startswith(HEAD_PREFIXES):
            layer.set_weights(source.get_layer(layer.name).get_weights())
            copied += 1
    if not copied:
        raise ValueError(f"no head layers in common between {source.name!r} and {target.name!r}")
    return target


def cached_twin(model: QueryRecommender) -> QueryRecommender:
    """A cached-path model with the end-to-end ``model``'s head weights (fed its text layer's vectors)."""
    cfg = model.get_config()
    cfg.update(text_layer=None, text_dim=int(model.text_layer.dim), name=f"{model.name}_cached")
    return copy_head_weights(model, QueryRecommender(**cfg))
