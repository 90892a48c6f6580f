"""Counts a reader looks at before training: the interactions, and each protocol's split.

Both return small pandas tables (one row per statistic or per split), so a notebook cell or a
script can display or print them as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from hncf.data.schema import ITEM, RATING, TIMESTAMP, USER


def describe_interactions(df: pd.DataFrame) -> pd.DataFrame:
    """One row per statistic of an interactions frame (columns ``user``, ``item``, optional ``rating``, ``timestamp``).

    Ratings, users, items, density, ratings per user and per item (min / median / max), the
    rating scale and, with timestamps, the first and last day. Raises ``ValueError`` naming the
    missing column when ``user`` or ``item`` is absent.
    """
    missing = [c for c in (USER, ITEM) if c not in df.columns]
    if missing:
        raise ValueError(f"interactions: missing column(s) {missing}; found {list(df.columns)}")
    n, n_users, n_items = len(df), int(df[USER].nunique()), int(df[ITEM].nunique())
    rows = {"ratings": n, "users": n_users, "items": n_items,
            "density": n / (n_users * n_items) if n_users and n_items else 0.0}
    for name, key in (("user", USER), ("item", ITEM)):
        counts = df[key].value_counts().to_numpy()
        if len(counts):
            rows[f"ratings per {name} (min / median / max)"] = (
                f"{counts.min()} / {np.median(counts):g} / {counts.max()}")
    if RATING in df.columns and n:
        values = np.sort(df[RATING].unique())
        shown = ", ".join(f"{v:g}" for v in values) if len(values) <= 10 else f"{values[0]:g} .. {values[-1]:g}"
        rows["rating values"] = shown
        rows["mean rating"] = float(df[RATING].mean())
    if TIMESTAMP in df.columns and n:
        stamps = pd.to_datetime(df[TIMESTAMP].agg(["min", "max"]), unit="s")
        rows["first / last day"] = f"{stamps.iloc[0]:%Y-%m-%d} / {stamps.iloc[1]:%Y-%m-%d}"
    return pd.DataFrame({"value": pd.Series(rows, dtype=object)}).rename_axis("statistic")


def describe_splits(splits: Mapping[str, object]) -> pd.DataFrame:
    """One row per protocol: the sizes of a prepared split (:class:`hncf.pipeline.PreparedSplit`).

    ``fit rows`` is what selection trains on (training minus the validation carve-out),
    ``train rows`` what the refit trains on; ``test negatives`` is the number sampled per test
    row (0 for full ranking, which ranks every unseen item).
    """
    rows = []
    for name, s in splits.items():
        val = getattr(s, "validation", None)
        negs = getattr(s, "test_negatives", None)
        rows.append({"protocol": name, "users": len(s.users), "items": len(s.items), "train rows": len(s.full_train),
                     "fit rows": len(s.train), "validation rows": 0 if val is None else len(val.users),
                     "test rows": len(s.test), "test negatives": 0 if negs is None else int(np.shape(negs)[1])})
    return pd.DataFrame(rows).set_index("protocol")
