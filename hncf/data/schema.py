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
