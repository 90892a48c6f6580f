"""EASE (Steck 2019): a closed-form item-item model, the strongest simple baseline at a few thousand items.

``B = I - P / diag(P)`` with ``P = (X^T X + lambda I)^-1`` and the diagonal of ``B`` forced to zero,
so an item never recommends itself; a user's scores are ``x_u B``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class EASE:
    """Fit on a user x item interaction matrix; ``score(users, items)`` for the protocols."""

    def __init__(self, l2: float = 500.0):
        if not l2 > 0:
            raise ValueError(f"l2 must be > 0, got {l2}")
        self.l2 = float(l2)
        self.B = None
        self.X = None

    def fit(self, X) -> "EASE":
        """``X``: a (sparse or dense) user x item matrix of 0/1 training interactions."""
        X = sp.csr_matrix(X, dtype=np.float64)
        G = (X.T @ X).toarray()
        G[np.diag_indices_from(G)] += self.l2
        P = np.linalg.inv(G)
        B = -P / np.diag(P)[None, :]
        B[np.diag_indices_from(B)] = 0.0
        self.B, self.X = B, X
        return self

    def score_rows(self, users) -> np.ndarray:
        """Scores of every item for ``users``: ``[len(users), n_items]``."""
        return np.asarray(self.X[np.asarray(users)] @ self.B)

    def score(self, users, items) -> np.ndarray:
        """Scores of (user, item) pairs, computed per distinct user block (no per-pair loop)."""
        users, items = np.asarray(users), np.asarray(items)
        uniq, inv = np.unique(users, return_inverse=True)
        rows = self.score_rows(uniq)
        return rows[inv, items]
