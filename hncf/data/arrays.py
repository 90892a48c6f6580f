"""The scale data path: MovieLens ``ratings.csv`` (ML-20M / ML-25M format) to int32 index arrays.

Nothing here holds a Python object per rating. ``ratings.csv`` is parsed by pandas' C parser with
fixed numeric dtypes straight into NumPy arrays; raw ids are mapped to contiguous indices with one
hash factorisation; the arrays are cached as ``.npy`` files that later runs memory-map (ML-20M: four
arrays, 20M ratings, about 0.3 GB, loaded in milliseconds). The leave-one-out split is a single
``lexsort`` over the arrays.

Bad input is counted, not fatal: when the fast parse fails (a non-numeric field, a missing value,
a wrong number of fields), the file is re-read line by line into the same arrays and every bad
line is reported with its 1-based line number and reason (``RatingArrays.bad_lines``). The cache
is written to a temporary folder and moved into place with ``os.replace``, so a crash never leaves
a half-written cache; it is keyed by the file's size, modification time and a hash of its first
and last MiB.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hncf.data.schema import SchemaError

CSV_COLUMNS = ("userId", "movieId", "rating", "timestamp")
_DTYPES = {"userId": np.int64, "movieId": np.int64, "rating": np.float32, "timestamp": np.int64}
_CACHE_VERSION = 1
_HASH_SPAN = 1 << 20  # bytes hashed at each end of the file for the cache key
_MAX_REPORTED = 100  # bad lines kept with their text; all are counted


@dataclass
class RatingArrays:
    """Ratings as index arrays: ``users[k]``, ``items[k]`` are contiguous indices of rating ``k``.

    ``user_ids[u]`` / ``item_ids[i]`` are the raw MovieLens ids of index ``u`` / ``i`` (sorted
    ascending, so index order is id order). ``timestamps`` (int64 seconds) and ``ratings``
    (float32 stars) are None when not loaded. Arrays may be read-only memory maps.
    """

    users: np.ndarray
    items: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    timestamps: np.ndarray | None = None
    ratings: np.ndarray | None = None
    source: Path | None = None
    n_bad_lines: int = 0
    bad_lines: list = field(default_factory=list)  # [(line number, reason, line text)], the first 100
    from_cache: bool = False

    @property
    def n_users(self) -> int:
        """Distinct users (the size of the user index space)."""
        return int(self.user_ids.shape[0])

    @property
    def n_items(self) -> int:
        """Distinct rated items (the size of the item index space)."""
        return int(self.item_ids.shape[0])

    def __len__(self) -> int:
        return int(self.users.shape[0])

    def encode_users(self, raw_ids) -> np.ndarray:
        """Indices of raw user ids; raises ``KeyError`` naming the first unknown id."""
        return _encode(self.user_ids, raw_ids, "user")

    def encode_items(self, raw_ids) -> np.ndarray:
        """Indices of raw movie ids; raises ``KeyError`` naming the first unknown id."""
        return _encode(self.item_ids, raw_ids, "movie")

    def __repr__(self) -> str:
        return (f"RatingArrays(ratings={len(self):,}, users={self.n_users:,}, items={self.n_items:,}, "
                f"bad_lines={self.n_bad_lines}, from_cache={self.from_cache})")


def _encode(ids: np.ndarray, raw, what: str) -> np.ndarray:
    raw = np.asarray(raw, dtype=np.int64)
    pos = np.minimum(np.searchsorted(ids, raw), max(ids.shape[0] - 1, 0))
    bad = ids[pos] != raw if ids.size else np.ones(raw.shape, bool)
    if bad.any():
        raise KeyError(f"unknown {what} id {int(raw[bad][0])} ({int(bad.sum())} unknown in all)")
    return pos.astype(np.int32)


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


def _check_header(path: Path) -> None:
    with open(path, "rb") as f:
        first = f.readline().decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    found = [c.strip() for c in first.split(",")] if first else []
    if found != list(CSV_COLUMNS):
        raise SchemaError(f"{path}, line 1: wrong columns in the header; expected {list(CSV_COLUMNS)}, "
                          f"found {found}")


def _parse_fast(path: Path) -> dict[str, np.ndarray] | None:
    """All four columns through pandas' C parser, or None when any line does not fit."""
    try:
        df = pd.read_csv(path, dtype=_DTYPES, engine="c", header=0, names=list(CSV_COLUMNS),
                         skip_blank_lines=True, on_bad_lines="error")
    except (ValueError, pd.errors.ParserError):
        return None
    cols = {name: df[name].to_numpy() for name in CSV_COLUMNS}
    if not np.isfinite(cols["rating"]).all():
        return None  # an empty or "nan" rating: let the exact pass name the lines
    return cols


def _parse_line(text: str) -> tuple[tuple[int, int, float, int] | None, str]:
    parts = text.split(",")
    if len(parts) != 4:
        return None, f"expected 4 fields separated by ',', found {len(parts)}"
    try:
        user, item, ts = int(parts[0]), int(parts[1]), int(parts[3])
    except ValueError:
        return None, "userId, movieId and timestamp must be integers"
    try:
        rating = float(parts[2])
    except ValueError:
        return None, f"rating {parts[2]!r} is not a number"
    if not np.isfinite(rating):
        return None, f"rating {parts[2]!r} is not a finite number"
    return (user, item, rating, ts), ""


def _parse_exact(path: Path) -> tuple[dict[str, np.ndarray], int, list]:
    """Line by line into preallocated arrays: only run when the fast parse refused the file."""
    with open(path, "rb") as f:
        n_lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b"")) + 1
    cols = {name: np.empty(n_lines, dtype=_DTYPES[name]) for name in CSV_COLUMNS}
    n, n_bad, bad = 0, 0, []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if lineno == 1:
                continue  # the header, checked already
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            row, reason = _parse_line(text)
            if row is None:
                n_bad += 1
                if len(bad) < _MAX_REPORTED:
                    bad.append((lineno, reason, text[:200]))
                continue
            cols["userId"][n], cols["movieId"][n], cols["rating"][n], cols["timestamp"][n] = row
            n += 1
    return {k: v[:n].copy() for k, v in cols.items()}, n_bad, bad


def _factorize(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(raw, sort=True)
    return codes.astype(np.int32), np.asarray(uniques, dtype=np.int64)


def parse_ratings_csv(path: str | os.PathLike) -> RatingArrays:
    """Parse an ML-20M/ML-25M-format ``ratings.csv`` (``userId,movieId,rating,timestamp``) into arrays.

    Malformed lines are skipped, counted and listed with their line numbers (see the module doc);
    a wrong header raises :class:`~hncf.data.schema.SchemaError` naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (a MovieLens ratings.csv)")
    _check_header(path)
    cols, n_bad, bad = _parse_fast(path), 0, []
    if cols is None:
        cols, n_bad, bad = _parse_exact(path)
    if cols["userId"].size == 0:
        raise SchemaError(f"{path}: no valid rating lines ({n_bad} malformed)")
    users, user_ids = _factorize(cols["userId"])
    items, item_ids = _factorize(cols["movieId"])
    return RatingArrays(users, items, user_ids, item_ids, cols["timestamp"], cols["rating"], path, n_bad, bad)


# ---------------------------------------------------------------------------
# The memory-mapped cache
# ---------------------------------------------------------------------------

_ARRAYS = ("users", "items", "user_ids", "item_ids", "timestamps", "ratings")


def cache_key(path: str | os.PathLike) -> str:
    """A key that changes when the file does: size, mtime (ns) and a hash of its first and last MiB."""
    path = Path(path)
    st = path.stat()
    h = hashlib.blake2b(digest_size=12)
    h.update(f"v{_CACHE_VERSION}:{st.st_size}:{st.st_mtime_ns}".encode())
    with open(path, "rb") as f:
        h.update(f.read(_HASH_SPAN))
        if st.st_size > 2 * _HASH_SPAN:
            f.seek(-_HASH_SPAN, os.SEEK_END)
            h.update(f.read(_HASH_SPAN))
    return h.hexdigest()


def default_array_cache() -> Path:
    """``$HNCF_CACHE_DIR/arrays`` (default ``~/.cache/hncf/arrays``)."""
    return Path(os.environ.get("HNCF_CACHE_DIR", Path.home() / ".cache" / "hncf")) / "arrays"


def _write_cache(folder: Path, data: RatingArrays) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".part"))
    try:
        for name in _ARRAYS:
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(getattr(data, name)))
        meta = {"version": _CACHE_VERSION, "source": str(data.source), "n_ratings": len(data),
                "n_bad_lines": data.n_bad_lines, "bad_lines": [list(b) for b in data.bad_lines]}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.replace(tmp, folder)
        except OSError:
            if not (folder / "meta.json").is_file():  # not a concurrent writer that got there first
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _read_cache(folder: Path, source: Path) -> RatingArrays | None:
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
    except (OSError, ValueError):
        return None  # unreadable: parse again and overwrite
    return RatingArrays(**arrays, source=source, n_bad_lines=int(meta["n_bad_lines"]),
                        bad_lines=[tuple(b) for b in meta["bad_lines"]], from_cache=True)


def load_ratings_arrays(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
                        use_cache: bool = True) -> RatingArrays:
    """:func:`parse_ratings_csv` with a memory-mapped ``.npy`` cache (``cache_dir``, default
    :func:`default_array_cache`). ``path`` is a ``ratings.csv`` or a release folder holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / "ratings.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (a MovieLens ratings.csv)")
    if not use_cache:
        return parse_ratings_csv(path)
    folder = Path(cache_dir or default_array_cache()) / f"{path.parent.name}-{path.stem}-{cache_key(path)}"
    cached = _read_cache(folder, path)
    if cached is not None:
        return cached
    data = parse_ratings_csv(path)
    _write_cache(folder, data)
    return _read_cache(folder, path) or data


# ---------------------------------------------------------------------------
# Splits and writing
# ---------------------------------------------------------------------------


@dataclass
class LeaveOneOut:
    """Row positions of a leave-one-out split over :class:`RatingArrays` (each sorted by user)."""

    train: np.ndarray  # int64 rows
    test: np.ndarray  # int64 rows, at most one per user
    validation: np.ndarray  # int64 rows, at most one per user (empty when not asked for)


def leave_one_out_arrays(users: np.ndarray, timestamps: np.ndarray, n_users: int | None = None,
                         validation: bool = True) -> LeaveOneOut:
    """Each user's latest rating is the test row and, with ``validation``, the one before it the
    validation row (carved from training, for model selection), as :func:`hncf.data.splits.leave_one_out_split`.

    Ties between equal timestamps are broken by file order (the later row is held out). A user
    keeps at least one training row: users with one rating have no test row, with two no
    validation row.
    """
    users = np.asarray(users)
    timestamps = np.asarray(timestamps)
    if users.shape != timestamps.shape or users.ndim != 1:
        raise ValueError(f"users and timestamps must be 1-D of equal length, got {users.shape}, {timestamps.shape}")
    order = np.lexsort((timestamps, users))  # stable: equal (user, time) keep file order
    counts = np.bincount(users, minlength=n_users or 0)
    ends = np.cumsum(counts)  # one past each user's last row in `order`
    has_test = counts > 1
    test = order[ends[has_test] - 1]
    has_val = counts > 2 if validation else np.zeros_like(has_test)
    val = order[ends[has_val] - 2]
    held = np.zeros(users.shape[0], bool)
    held[test] = True
    held[val] = True
    return LeaveOneOut(order[~held[order]].astype(np.int64), test.astype(np.int64), val.astype(np.int64))


def write_ratings_csv(path: str | os.PathLike, user_ids, item_ids, ratings, timestamps,
                      chunk: int = 1 << 21) -> Path:
    """Write ``userId,movieId,rating,timestamp`` as GroupLens does (ML-20M format), vectorised per chunk.

    Written to a temporary file and moved into place, so a reader never sees half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = [np.asarray(a) for a in (user_ids, item_ids, ratings, timestamps)]
    n = cols[0].shape[0]
    if any(c.shape != (n,) for c in cols):
        raise ValueError(f"all columns must be 1-D of equal length, got {[c.shape for c in cols]}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write((",".join(CSV_COLUMNS) + "\n").encode())
            for s in range(0, n, chunk):
                u, i, r, t = (c[s:s + chunk] for c in cols)
                # Ratings are half stars, so one decimal is exact ("3.5", "4.0" as GroupLens writes).
                block = np.char.add(np.char.add(np.char.add(np.char.add(
                    u.astype(np.int64).astype("U"), ","), np.char.add(i.astype(np.int64).astype("U"), ",")),
                    np.char.add(np.char.mod("%.1f", r.astype(np.float64)), ",")), t.astype(np.int64).astype("U"))
                f.write(("\n".join(block.tolist()) + "\n").encode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def synthetic_rating_arrays(n_ratings: int, n_users: int | None = None, n_items: int | None = None,
                            seed: int = 0, rank: int = 8) -> dict[str, np.ndarray]:
    """ML-20M-shaped synthetic ratings at any size, vectorised (no dense user x item matrix).

    Defaults keep ML-20M's shape: 144 ratings per user and one item per 748 ratings (ML-20M:
    138,493 users, 26,744 items, 20.0M ratings). Items follow a Zipf-like popularity and users'
    choices a low-rank affinity (each user samples from a few popularity-weighted item clusters),
    so a recommender has something to learn. Every user has 3 to ``n_items // 2`` ratings (a surplus
    over the cap goes to other users); (user, item) pairs
    are distinct. Returns raw ids (``userId`` from 1, sparse ``movieId``), ratings and timestamps.
    """
    n_users = n_users or max(3, n_ratings // 144)
    n_items = n_items or max(20, n_ratings // 748)
    rng = np.random.default_rng(seed)
    # Users: long-tailed activity with at least 3 ratings each.
    activity = rng.lognormal(0.0, 1.0, n_users)
    counts = 3 + rng.multinomial(n_ratings - 3 * n_users, activity / activity.sum())
    cap = max(3, n_items // 2)
    for _ in range(20):  # users over the cap hand their surplus to the others
        surplus = int(np.maximum(counts - cap, 0).sum())
        if surplus == 0:
            break
        counts = np.minimum(counts, cap)
        room = (cap - counts).astype(float)
        counts += rng.multinomial(surplus, room / room.sum()) if room.sum() else 0
    counts = np.minimum(counts, cap)
    users = np.repeat(np.arange(n_users, dtype=np.int64), counts)
    # Items: each user has a home cluster; 70% of picks from it, the rest by global popularity.
    clusters = max(2, rank)
    item_cluster = rng.integers(0, clusters, n_items)
    popularity = 1.0 / (1.0 + rng.permutation(n_items)) ** 0.8
    cdf_all = np.cumsum(popularity) / popularity.sum()
    order = np.argsort(item_cluster, kind="stable")
    starts = np.searchsorted(item_cluster[order], np.arange(clusters + 1))
    pop_sorted = popularity[order]
    cdf_c = np.cumsum(pop_sorted)
    home = rng.integers(0, clusters, n_users)[users]
    lo = np.where(starts[home] > 0, cdf_c[np.maximum(starts[home] - 1, 0)], 0.0)
    hi = cdf_c[starts[home + 1] - 1]
    from_cluster = rng.random(users.shape[0]) < 0.7

    def draw(rows, round_):
        u01 = rng.random(rows.size)
        if round_ >= 8:  # popular items are taken by now: finish with uniform draws
            return rng.integers(0, n_items, rows.size)
        pick = order[np.minimum(np.searchsorted(cdf_c, lo[rows] + u01 * (hi[rows] - lo[rows])), n_items - 1)]
        return np.where(from_cluster[rows], pick, np.minimum(np.searchsorted(cdf_all, u01), n_items - 1))

    items = draw(np.arange(users.shape[0]), 0)
    for round_ in range(1, 64):  # redraw repeated (user, item) pairs until all are distinct
        keys = users * n_items + items
        srt = np.argsort(keys, kind="stable")
        dup = np.zeros(keys.shape[0], bool)
        dup[srt[1:][keys[srt][1:] == keys[srt][:-1]]] = True
        if not dup.any():
            break
        rows = np.flatnonzero(dup)
        items[rows] = draw(rows, round_)
    keep = np.zeros(users.shape[0], bool)
    keep[np.unique(users * n_items + items, return_index=True)[1]] = True  # all, unless 63 rounds fell short
    users, items, from_cluster = users[keep], items[keep], from_cluster[keep]
    rating = np.clip(np.round((3.5 + rng.normal(0, 1.0, users.shape[0]) + 0.5 * from_cluster) * 2) / 2,
                     0.5, 5.0)
    ts = 789_652_009 + rng.integers(0, 20 * 365 * 86_400, users.shape[0])
    movie_ids = np.sort(rng.choice(np.arange(1, 8 * n_items + 1), n_items, replace=False))
    return {"userId": users + 1, "movieId": movie_ids[items], "rating": rating.astype(np.float32),
            "timestamp": ts.astype(np.int64)}
