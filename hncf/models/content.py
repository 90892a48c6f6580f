"""The content part of the NCF + Sentence-BERT hybrid: sentence embeddings, user vector, nearest titles.

The paper embeds each title's description with SBERT (all-MiniLM-L6-v2, mean pooling + L2 norm), sets
the user vector to the mean of the liked titles' embeddings (its eq. 1) and suggests the nearest titles
not yet shown or liked. Embeddings are computed once per (encoder, title, text) and cached
(:class:`hncf.encoders.FeatureCache`).

Search is exact by default (one matrix product and a partial sort: 8.8k x 384 takes well under a
millisecond per query); :class:`HNSWIndex` (faiss-cpu's HNSW graph) serves catalogues large enough
for that to matter (``benchmarks/ann_index.py`` measures both).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def embed_items(encoder, ids, texts, cache=None, batch_size: int = 64,
                progress: bool = True) -> np.ndarray:
    """L2-normalised sentence embeddings ``[n, dim]`` of ``texts`` (one per id), through ``cache`` if given.

    ``encoder`` is a :class:`hncf.encoders.TextEncoder` (load it with ``pooling="mean"`` for SBERT
    models). Only titles missing from the cache, or whose text changed, are encoded (with a progress bar).
    """
    from hncf.encoders.cache import content_hashes

    texts = np.asarray(pd.Series(list(texts), dtype=object).to_numpy(), dtype=object)
    ids = np.asarray(ids).astype(str)
    if len(ids) != len(texts):
        raise ValueError(f"got {len(ids)} ids but {len(texts)} texts")

    def compute(positions):
        return encoder.encode(texts[positions].tolist(), batch_size=batch_size, progress=False,
                              ids=ids[positions])

    if cache is None:
        vectors = encoder.encode(texts.tolist(), batch_size=batch_size, progress=progress, ids=ids)
    else:
        vectors = cache.get_or_compute(encoder.name, ids, content_hashes(texts), compute, batch_size=512,
                                       progress=progress)
    return l2_normalise(vectors)


def user_vector(item_vectors: np.ndarray, liked: np.ndarray) -> np.ndarray:
    """The paper's user vector: the mean of the liked items' embeddings (eq. 1), L2-normalised."""
    liked = np.asarray(liked, dtype=np.int64).reshape(-1)
    if len(liked) == 0:
        raise ValueError("the user vector needs at least one liked item")
    return l2_normalise(item_vectors[liked].mean(axis=0))


def content_scores(item_vectors: np.ndarray, liked: np.ndarray) -> np.ndarray:
    """Cosine similarity of every item to the user vector, ``[n_items]``."""
    return item_vectors @ user_vector(item_vectors, liked)


def user_vectors(item_vectors: np.ndarray, liked_rows) -> np.ndarray:
    """User vectors for many users at once: ``liked_rows`` is a list of item-index arrays."""
    n = len(liked_rows)
    lengths = np.array([len(r) for r in liked_rows])
    if (lengths == 0).any():
        raise ValueError(f"user row {int(np.flatnonzero(lengths == 0)[0])} has no liked item")
    rows = np.repeat(np.arange(n), lengths)
    cols = np.concatenate([np.asarray(r, dtype=np.int64) for r in liked_rows])
    sums = np.zeros((n, item_vectors.shape[1]), dtype=np.float32)
    np.add.at(sums, rows, item_vectors[cols])
    return l2_normalise(sums / lengths[:, None])


def top_k(scores: np.ndarray, k: int, exclude=None) -> np.ndarray:
    """Indices of the ``k`` highest scores (best first), never one in ``exclude``; ties go to the lower index."""
    scores = np.asarray(scores, dtype=np.float64).copy()
    if exclude is not None and len(exclude):
        scores[np.asarray(exclude, dtype=np.int64)] = -np.inf
    k = min(int(k), int(np.isfinite(scores).sum()))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    # lexsort: by score descending, then by index ascending (a stable tie rule).
    return part[np.lexsort((part, -scores[part]))]


class ExactIndex:
    """Exact inner-product (cosine, on unit vectors) nearest neighbours by one matrix product."""

    def __init__(self, vectors: np.ndarray):
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, indices)`` of the ``k`` nearest items per query row, best first."""
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        sims = q @ self.vectors.T
        k = min(int(k), len(self.vectors))
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
        idx = np.take_along_axis(part, order, axis=1)
        return np.take_along_axis(sims, idx, axis=1), idx


class HNSWIndex:
    """Approximate inner-product search on faiss-cpu's HNSW graph (``IndexHNSWFlat``).

    ``m`` is the graph degree, ``ef_construction`` / ``ef_search`` the candidate list sizes while
    building and searching (larger: slower and closer to exact).
    """

    def __init__(self, vectors: np.ndarray, m: int = 32, ef_construction: int = 200, ef_search: int = 128,
                 threads: int | None = None):
        import faiss

        if threads is not None:
            faiss.omp_set_num_threads(int(threads))
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        self.index = faiss.IndexHNSWFlat(x.shape[1], int(m), faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = int(ef_construction)
        self.index.add(x)
        self.ef_search = int(ef_search)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, indices)`` of (approximately) the ``k`` nearest items per query row, best first."""
        self.index.hnsw.efSearch = max(self.ef_search, int(k))
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        scores, idx = self.index.search(q, int(k))
        return scores, idx.astype(np.int64)


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact top-k neighbours that the approximate top-k found, averaged over queries."""
    approx, exact = np.atleast_2d(approx), np.atleast_2d(exact)
    hits = (approx[:, :, None] == exact[:, None, :]).any(axis=1)
    return float(hits.mean())


class ContentRecommender:
    """Suggestions from liked items by content alone (the paper's step 2-3).

    ``index`` defaults to exact search; an :class:`HNSWIndex` over the same vectors can replace it.
    Exclusions (liked and already shown items) are handled by over-fetching from the index.
    """

    def __init__(self, item_vectors: np.ndarray, index=None):
        self.item_vectors = l2_normalise(item_vectors)
        self.index = index if index is not None else ExactIndex(self.item_vectors)

    def scores(self, liked: np.ndarray) -> np.ndarray:
        """Cosine of every item to the user vector."""
        return content_scores(self.item_vectors, liked)

    def recommend(self, liked, k: int, exclude=()) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, scores)`` of the ``k`` nearest items to the user vector, not liked nor excluded."""
        liked = np.asarray(liked, dtype=np.int64).reshape(-1)
        banned = np.union1d(liked, np.asarray(exclude, dtype=np.int64).reshape(-1))
        q = user_vector(self.item_vectors, liked)
        want = min(len(self.item_vectors), int(k) + len(banned))
        scores, idx = self.index.search(q, want)
        scores, idx = scores[0], idx[0]
        keep = (idx >= 0) & ~np.isin(idx, banned)
        return idx[keep][:k], scores[keep][:k]


__all__ = ["ContentRecommender", "ExactIndex", "HNSWIndex", "content_scores", "embed_items", "l2_normalise",
           "recall_at_k", "top_k", "user_vector", "user_vectors"]
