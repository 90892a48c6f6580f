"""EASE against a hand-computed case and its defining properties."""

import numpy as np
import pytest

from hncf.models.ease import EASE


def test_hand_computed_two_items():
    # X^T X = [[2, 1], [1, 1]]; + l2 I with l2 = 1 -> G = [[3, 1], [1, 2]], P = G^-1 = [[2, -1], [-1, 3]] / 5.
    X = np.array([[1, 1], [1, 0]])
    m = EASE(l2=1.0).fit(X)
    # B_ij = -P_ij / P_jj off the diagonal: B_01 = (1/5) / (3/5) = 1/3, B_10 = (1/5) / (2/5) = 1/2.
    np.testing.assert_allclose(m.B, [[0, 1 / 3], [1 / 2, 0]])
    np.testing.assert_allclose(m.score_rows([1]), [[0.0, 1 / 3]])


def test_pair_scores_match_rows_and_diagonal_is_zero():
    rng = np.random.default_rng(0)
    X = (rng.random((20, 12)) < 0.3).astype(float)
    m = EASE(l2=5.0).fit(X)
    assert np.allclose(np.diag(m.B), 0)
    u, i = rng.integers(0, 20, 50), rng.integers(0, 12, 50)
    np.testing.assert_allclose(m.score(u, i), m.score_rows(np.arange(20))[u, i])
    with pytest.raises(ValueError, match="l2 must be > 0"):
        EASE(l2=0)
