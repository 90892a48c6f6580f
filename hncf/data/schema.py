"""One schema for interactions and item metadata, and contiguous id mapping.

Every loader returns interactions as a DataFrame with the columns
``user, item, rating, timestamp`` (raw dataset ids) and item metadata with
``item, title, year, genres`` (+ ``tags``, ``imdb_id``, ``tmdb_id`` where the
release has them). Models work on contiguous indices ``0..n-1`` produced by
:class:`IdMap`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

USER = "user"
ITEM = "item"
RATING = "rating"
TIMESTAMP = "timestamp"
INTERACTION_COLUMNS = (USER, ITEM, RATING, TIMESTAMP)

TITLE = "title"
YEAR = "year"
GENRES = "genres"  # "|"-joined genre names, as MovieLens writes them
TAGS = "tags"  # "|"-joined user tags
IMDB_ID = "imdb_id"
TMDB_ID = "tmdb_id"
ITEM_COLUMNS = (ITEM, TITLE, YEAR, GENRES)


class SchemaError(ValueError):
    """A table does not have the columns or values the schema requires."""


def check_interactions(df: pd.DataFrame, source: str = "interactions") -> pd.DataFrame:
    """Validate an interactions table; raise :class:`SchemaError` naming the problem.

    Checks the four columns exist, ids are not missing and ratings are finite.
    Returns the frame unchanged so it can be used inline.
    """
    missing = [c for c in INTERACTION_COLUMNS if c not in df.columns]
    if missing:
        raise SchemaError(
            f"{source}: missing column(s) {missing}; expected {list(INTERACTION_COLUMNS)}, "
            f"got {list(df.columns)}"
        )
    for col in (USER, ITEM, TIMESTAMP):
        bad = df[col].isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise SchemaError(f"{source}: missing {col} in row {row}: {df.iloc[row].to_dict()}")
    ratings = pd.to_numeric(df[RATING], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(ratings)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            f"{source}: rating is NaN or not a number in row {row} "
            f"(user {df[USER].iloc[row]}, item {df[ITEM].iloc[row]}); "
            f"{int(bad.sum())} such row(s) in all"
        )
    return df


DUPLICATE_RULE = (
    "one row per (user, item): the latest by timestamp is kept, and of rows with equal timestamps the "
    "last in file order"
)


def _pair_keys(users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """One int64 key per (user, item) pair; equal keys mean equal pairs."""
    if (np.issubdtype(users.dtype, np.integer) and np.issubdtype(items.dtype, np.integer) and len(users)
            and users.min() >= 0 and items.min() >= 0
            and int(users.max()) < (1 << 62) // (int(items.max()) + 1)):
        return users.astype(np.int64) * (int(items.max()) + 1) + items.astype(np.int64)
    u, _ = pd.factorize(pd.Series(users))
    i, n_items = pd.factorize(pd.Series(items))
    return u.astype(np.int64) * max(len(n_items), 1) + i.astype(np.int64)


def merge_duplicates(df: pd.DataFrame, *, col_user: str = USER, col_item: str = ITEM,
                     col_timestamp: str = TIMESTAMP, max_examples: int = 5) -> tuple[pd.DataFrame, dict]:
    """Merge repeated (user, item) rows by :data:`DUPLICATE_RULE`; return ``(frame, info)``.

    A pair rated twice would otherwise sit in training and test at once. The kept rows stay in
    their file order (the index is kept, so rows trace back to the source). ``info`` holds
    ``rows_dropped``, ``pairs`` (pairs that had more than one row), ``rule`` and ``examples``: for
    the first ``max_examples`` such pairs, their row positions and the position kept.
    """
    n = len(df)
    keys = _pair_keys(df[col_user].to_numpy(), df[col_item].to_numpy())
    info = {"rows_dropped": 0, "pairs": 0, "rule": DUPLICATE_RULE, "examples": []}
    # A plain sort (no argsort) finds the repeated keys fast; only their rows are looked at further.
    s = np.sort(keys)
    repeated = np.unique(s[1:][s[1:] == s[:-1]])
    if repeated.size == 0:
        return df, info
    at = np.minimum(np.searchsorted(repeated, keys), repeated.size - 1)
    involved = np.flatnonzero(repeated[at] == keys)
    k, ts = keys[involved], df[col_timestamp].to_numpy()[involved]
    # Sorted by (pair, timestamp, position): the last row of each pair is the one kept.
    order = np.lexsort((involved, ts, k))
    sk, rows = k[order], involved[order]
    last = np.r_[sk[1:] != sk[:-1], True]
    first = np.r_[True, sk[1:] != sk[:-1]]
    drop = rows[~last]
    keep_mask = np.ones(n, dtype=bool)
    keep_mask[drop] = False
    # Examples in file order of each pair's first row.
    starts, ends = np.flatnonzero(first), np.flatnonzero(last)
    by_first_row = np.argsort(np.minimum.reduceat(rows, starts), kind="stable")[:max_examples]
    users, items = df[col_user].to_numpy(), df[col_item].to_numpy()
    examples = []
    for g in by_first_row:
        group = np.sort(rows[starts[g]:ends[g] + 1])
        kept = int(rows[ends[g]])
        examples.append({"user": _plain(users[kept]), "item": _plain(items[kept]),
                         "rows": group.tolist(), "kept_row": kept})
    info.update(rows_dropped=int(drop.size), pairs=int(starts.size), examples=examples)
    return df[keep_mask], info


def _plain(x):
    return x.item() if isinstance(x, np.generic) else x


class IdMap:
    """A contiguous, order-preserving mapping from raw ids to ``0..n-1`` and back.

    Raw ids are sorted so the mapping is deterministic whatever the row order.
    """

    def __init__(self, raw_ids, name: str = "id"):
        values = pd.unique(pd.Series(raw_ids))
        self.name = name
        self.raw = np.sort(np.asarray(values))
        self._index = pd.Index(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def encode(self, raw_ids) -> np.ndarray:
        """Raw ids -> indices. Unknown ids raise ``KeyError`` listing a few of them."""
        idx = self._index.get_indexer(np.asarray(raw_ids))
        if (idx < 0).any():
            unknown = pd.unique(np.asarray(raw_ids)[idx < 0])
            raise KeyError(
                f"unknown {self.name}(s) {unknown[:5].tolist()}"
                + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
                + f"; known {self.name}s number {len(self)}"
            )
        return idx.astype(np.int64)

    def decode(self, indices) -> np.ndarray:
        """Indices -> raw ids. Out-of-range indices raise ``IndexError``."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"{self.name} index out of range [0, {len(self)})")
        return self.raw[indices]

    def to_dict(self) -> dict:
        """A JSON-friendly form, so a trained model's mapping can be saved beside it."""
        return {"name": self.name, "raw": self.raw.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "IdMap":
        """Inverse of :meth:`to_dict`."""
        return cls(d["raw"], name=d.get("name", "id"))


def encode_interactions(df: pd.DataFrame, users: IdMap, items: IdMap) -> pd.DataFrame:
    """Return a copy of ``df`` with ``user``/``item`` replaced by contiguous indices."""
    out = df.copy()
    out[USER] = users.encode(df[USER].to_numpy())
    out[ITEM] = items.encode(df[ITEM].to_numpy())
    return out
