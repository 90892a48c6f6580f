"""Negative sampling over contiguous user/item indices (NumPy, vectorised).

Positives are held in a CSR matrix. A whole batch of (user, item) candidates
is drawn at once, checked against the positives in one vectorised lookup of
``user * n_items + item`` (a bool or bit table for ML-1M-sized data, binary
search of the sorted keys beyond), and only the collisions are redrawn.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

_log = logging.getLogger(__name__)

# After this many redraw rounds the few rows still colliding (users who rated
# almost every item) are finished exactly, one row at a time.
_MAX_ROUNDS = 32


def _as_index_array(x, name: str, upper: int) -> np.ndarray:
    a = np.asarray(x)
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name} must be integer indices, got dtype {a.dtype}")
    a = a.astype(np.int64, copy=False).ravel()
    if a.size and (a.min() < 0 or a.max() >= upper):
        bad = a[(a < 0) | (a >= upper)][0]
        raise ValueError(f"{name} index {bad} out of range [0, {upper})")
    return a


def user_item_csr(users, items, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary user x item CSR matrix of known positives (duplicates count once)."""
    u = _as_index_array(users, "user", n_users)
    i = _as_index_array(items, "item", n_items)
    if len(u) != len(i):
        raise ValueError(f"users and items differ in length: {len(u)} vs {len(i)}")
    m = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=(n_users, n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    m.sort_indices()
    return m


def _canonical(m) -> sp.csr_matrix:
    csr = sp.csr_matrix(m)
    if not csr.has_canonical_format:
        csr = csr.copy()  # leave the caller's matrix as it was
        csr.sum_duplicates()
    return csr


# Membership test strategy by matrix size: a bool table (one byte per cell) is
# fastest; a packed bit table costs 1/8 of the memory for ML-1M-sized data; past
# that, binary search over the sorted keys needs memory only per positive.
_BOOL_TABLE_CELLS = 1 << 25
_BIT_TABLE_CELLS = 1 << 28


class _Positives:
    """Vectorised ``(user, item) in positives`` for a canonical CSR matrix."""

    def __init__(self, csr: sp.csr_matrix):
        n_users, self.n_items = csr.shape
        rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(csr.indptr))
        # Row-major with sorted column indices, so the keys come out sorted already.
        keys = rows * self.n_items + csr.indices.astype(np.int64)
        cells = n_users * self.n_items
        self.kind = "bool" if cells <= _BOOL_TABLE_CELLS else "bits" if cells <= _BIT_TABLE_CELLS else "keys"
        if self.kind == "keys":
            self.table = keys
        elif self.kind == "bool":
            self.table = np.zeros(cells, dtype=bool)
            self.table[keys] = True
        else:
            # Built byte by byte from the sorted unique keys, never as a full bool table:
            # the bits of one byte are distinct, so their sum is their OR.
            byte = keys >> 3
            idx, first = np.unique(byte, return_index=True)
            self.table = np.zeros((cells + 7) // 8, dtype=np.uint8)
            if keys.size:
                self.table[idx] = np.add.reduceat(np.left_shift(1, keys & 7), first).astype(np.uint8)

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        q = users * self.n_items + items
        if self.kind == "bool":
            return self.table[q]
        if self.kind == "bits":
            return ((self.table[q >> 3] >> (q & 7).astype(np.uint8)) & 1).astype(bool)
        keys = self.table
        if keys.size == 0:
            return np.zeros(q.shape, dtype=bool)
        pos = np.searchsorted(keys, q)
        return keys[np.minimum(pos, keys.size - 1)] == q


def _duplicates_in_rows(a: np.ndarray) -> np.ndarray:
    """Mask of entries equal to an earlier entry of the same row."""
    order = np.argsort(a, axis=1, kind="stable")
    s = np.take_along_axis(a, order, axis=1)
    dup_sorted = np.zeros(a.shape, dtype=bool)
    dup_sorted[:, 1:] = s[:, 1:] == s[:, :-1]
    dup = np.zeros(a.shape, dtype=bool)
    np.put_along_axis(dup, order, dup_sorted, axis=1)
    return dup


def _check_capacity(users: np.ndarray, positives: sp.csr_matrix, n_items: int, needed: int,
                    what: str) -> None:
    degree = np.diff(positives.indptr)[users]
    free = n_items - degree
    short = free < needed
    if short.any():
        k = int(np.flatnonzero(short)[0])
        raise ValueError(
            f"user {users[k]} has only {free[k]} of {n_items} items that are not positives; "
            f"cannot sample {what} ({int(short.sum())} such user(s) in the batch)"
        )


def sample_negatives(users, n_items: int, positives_csr: sp.csr_matrix, n_neg: int,
                     rng: np.random.Generator | int | None = None, *,
                     replace: bool = True) -> np.ndarray:
    """Items that are not positives of each user: int64 array ``(len(users), n_neg)``.

    For training negatives ``replace=True`` (default, the NCF recipe): each
    draw is independent, so a row may repeat an item; that is what per-epoch
    resampling does anyway and it keeps the sampler a single vectorised pass.
    ``replace=False`` makes each row's items distinct. Raises ``ValueError``
    naming the user when a user has no (or, without replacement, fewer than
    ``n_neg``) non-positive items.
    """
    rng = np.random.default_rng(rng)
    positives = _canonical(positives_csr)
    if positives.shape[1] != n_items:
        raise ValueError(f"positives_csr has {positives.shape[1]} columns but n_items={n_items}")
    u = _as_index_array(users, "user", positives.shape[0])
    if n_neg < 0:
        raise ValueError(f"n_neg must be >= 0, got {n_neg}")
    if len(u) == 0 or n_neg == 0:
        return np.zeros((len(u), n_neg), dtype=np.int64)
    _check_capacity(u, positives, n_items, 1 if replace else n_neg,
                    "any negative" if replace else f"{n_neg} distinct negatives")
    known = _Positives(positives)
    if replace:
        return _sample_with_replacement(u, n_items, positives, known, n_neg, rng)
    return _sample_distinct(u, n_items, positives, known, n_neg, rng)


def _free_items(positives: sp.csr_matrix, user: int, n_items: int) -> np.ndarray:
    start, end = positives.indptr[user], positives.indptr[user + 1]
    return np.setdiff1d(np.arange(n_items), positives.indices[start:end])


def _sample_with_replacement(u, n_items, positives, known, n_neg, rng) -> np.ndarray:
    out = rng.integers(0, n_items, size=len(u) * n_neg, dtype=np.int64)
    owner = np.repeat(u, n_neg)
    # Track the colliding flat positions only, so each round costs O(collisions).
    pending = np.flatnonzero(known.contains(owner, out))
    for _ in range(_MAX_ROUNDS):
        if pending.size == 0:
            break
        out[pending] = rng.integers(0, n_items, size=pending.size, dtype=np.int64)
        pending = pending[known.contains(owner[pending], out[pending])]
    # Whatever still collides belongs to users with very few free items: draw exactly.
    for user in np.unique(owner[pending]):
        at = pending[owner[pending] == user]
        out[at] = rng.choice(_free_items(positives, user, n_items), size=at.size, replace=True)
    return out.reshape(len(u), n_neg)


def _sample_distinct(u, n_items, positives, known, n_neg, rng) -> np.ndarray:
    out = rng.integers(0, n_items, size=(len(u), n_neg), dtype=np.int64)
    bad = known.contains(np.repeat(u, n_neg).reshape(out.shape), out) | _duplicates_in_rows(out)
    rows = np.flatnonzero(bad.any(axis=1))
    for _ in range(_MAX_ROUNDS):
        if rows.size == 0:
            break
        # Redraw only the offending entries, then recheck those rows whole
        # (a new draw can repeat another entry of its row).
        sub, sub_bad = out[rows], bad[rows]
        sub[sub_bad] = rng.integers(0, n_items, size=int(sub_bad.sum()), dtype=np.int64)
        sub_bad = known.contains(np.repeat(u[rows], n_neg).reshape(sub.shape), sub) | _duplicates_in_rows(sub)
        out[rows], bad[rows] = sub, sub_bad
        rows = rows[sub_bad.any(axis=1)]
    for r in rows:
        out[r] = rng.choice(_free_items(positives, u[r], n_items), size=n_neg, replace=False)
    return out


def sample_test_negatives(all_interactions_csr: sp.csr_matrix, users, n_neg: int = 99,
                          seed: int = 0) -> np.ndarray:
    """``n_neg`` distinct items per user that the user never interacted with (train or test).

    For the sampled leave-one-out protocol (1 test item + 99 negatives). Pass
    the CSR of *all* interactions so a test item can never be drawn as a
    negative. Deterministic for a given ``seed`` and ``users`` order; sample
    once and keep the result with :func:`save_test_negatives`.
    """
    csr = _canonical(all_interactions_csr)
    return sample_negatives(users, csr.shape[1], csr, n_neg, np.random.default_rng(seed), replace=False)


class TestNegatives(NamedTuple):
    """Saved test negatives: ``negatives[k]`` belongs to ``users[k]``."""

    __test__ = False  # not a pytest test class despite the name

    users: np.ndarray
    negatives: np.ndarray
    meta: dict


def save_test_negatives(path: str | os.PathLike, users, negatives, meta: dict | None = None) -> Path:
    """Write users, negatives and a JSON-able ``meta`` dict to ``path`` (.npz), atomically.

    The file is written to a temporary name in the same folder and moved into
    place with ``os.replace``, so a crash never leaves a truncated file.
    """
    path = Path(path)
    users = np.asarray(users, dtype=np.int64)
    negatives = np.asarray(negatives, dtype=np.int64)
    if negatives.ndim != 2 or negatives.shape[0] != users.shape[0]:
        raise ValueError(f"negatives must be (len(users), n_neg); got {negatives.shape} for {users.shape[0]} users")
    meta_json = json.dumps(meta or {}, sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            # A file object, so numpy does not append ".npz" to the temporary name.
            np.savez(f, users=users, negatives=negatives, meta=np.array(meta_json))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class CorruptFileError(ValueError):
    """A saved file exists but cannot be read back (truncated, not an .npz, wrong contents)."""


def load_test_negatives(path: str | os.PathLike) -> TestNegatives:
    """Read what :func:`save_test_negatives` wrote: ``(users, negatives, meta)``.

    Raises ``FileNotFoundError`` when ``path`` does not exist and :class:`CorruptFileError`
    (a ``ValueError``) naming the file when it cannot be read back: truncated, not an .npz,
    or without the users/negatives/meta it should hold. See :func:`load_test_negatives_if_valid`
    to treat such a file as absent.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (saved test negatives)")

    def corrupt(why: str) -> CorruptFileError:
        err = CorruptFileError(
            f"{path} is not a readable test-negatives file ({why}); delete it and the negatives are "
            f"sampled again (with the same seed, the same ones)"
        )
        err.path, err.reason = path, why
        return err

    try:
        with np.load(path, allow_pickle=False) as z:
            missing = {"users", "negatives", "meta"} - set(z.files)
            if missing:
                raise corrupt(f"missing {sorted(missing)}")
            users, negatives, meta = z["users"], z["negatives"], json.loads(str(z["meta"]))
    except CorruptFileError:
        raise
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        # np.load raises any of these on truncated or foreign bytes; json.JSONDecodeError is a ValueError.
        raise corrupt(f"{type(e).__name__}: {e}") from e
    if (users.ndim != 1 or negatives.ndim != 2 or len(users) != len(negatives)
            or not np.issubdtype(users.dtype, np.integer) or not np.issubdtype(negatives.dtype, np.integer)
            or not isinstance(meta, dict)):
        raise corrupt(f"users {users.dtype}{list(users.shape)}, negatives {negatives.dtype}"
                      f"{list(negatives.shape)}, meta {type(meta).__name__}; expected int users [n], "
                      f"int negatives [n, k] and a dict")
    return TestNegatives(users, negatives, meta)


def load_test_negatives_if_valid(path: str | os.PathLike | None, *, delete_corrupt: bool = True) -> TestNegatives | None:
    """:func:`load_test_negatives`, or None when ``path`` is None, absent or corrupt.

    A corrupt file (see :class:`CorruptFileError`) is logged as a one-line warning naming it
    and, with ``delete_corrupt``, deleted, so the caller resamples and saves afresh. Whether
    the negatives that load belong to the current split is the caller's check (``meta``).
    """
    if path is None or not Path(path).is_file():
        return None
    try:
        return load_test_negatives(path)
    except CorruptFileError as e:
        if delete_corrupt:
            Path(path).unlink(missing_ok=True)
        _log.warning("hncf: warning: %s is not a readable test-negatives file (%s); %s", path, e.reason,
                     "deleted it, sampling the negatives again" if delete_corrupt else "treated as absent")
        return None
