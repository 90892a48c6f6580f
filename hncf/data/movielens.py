"""MovieLens loaders: the official GroupLens zips, or a local copy.

Every loader returns the schema of :mod:`hncf.data.schema`: interactions with
raw ``user``/``item`` ids (int64), ``rating`` (float32) and ``timestamp``
(int64 seconds), in file order; and one row per movie with ``item``,
``title``, ``year`` (nullable Int64), ``genres`` ("|"-joined), plus ``tags``,
``imdb_id`` and ``tmdb_id`` for the releases that ship ``tags.csv`` /
``links.csv``.

Parsing is vectorised with pandas. Only when pandas fails, or a value check
fails afterwards, is the file scanned line by line to report the first bad
line (file name, 1-based line number and the line itself).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import shutil
import tempfile
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hncf.data.download import default_cache_dir, fetch
from hncf.data.schema import (
    GENRES,
    IMDB_ID,
    ITEM,
    RATING,
    TAGS,
    TIMESTAMP,
    TITLE,
    TMDB_ID,
    USER,
    YEAR,
    SchemaError,
    merge_duplicates,
)

_log = logging.getLogger(__name__)
DATA_ENV = "HNCF_DATA_DIR"
BASE_URL = "https://files.grouplens.org/datasets/movielens/"


@dataclass(frozen=True)
class Release:
    """Where a MovieLens release lives and how to verify it.

    ``md5`` is what GroupLens publishes in ``<name>.zip.md5``; ``sha256`` and
    ``size`` are as recorded by tensorflow_datasets. When ``md5`` is None the
    published ``.md5`` file next to the zip is fetched and used instead.
    """

    name: str
    layout: str  # "ml-100k" | "ml-1m" | "csv"
    url: str
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None

    @property
    def md5_url(self) -> str:
        """The checksum file GroupLens publishes beside each zip."""
        return self.url + ".md5"


# md5: the values GroupLens publishes in <name>.zip.md5, as pinned independently by
# several projects (torchtext's MovieLens100K, PaddlePaddle's dataset cache,
# eli-osherovich/papers_with_code datasets/movielens/dl_config.py).
# sha256 and sizes: tensorflow_datasets/url_checksums/movielens.txt.
MOVIELENS_RELEASES: dict[str, Release] = {
    "ml-100k": Release(
        "ml-100k", "ml-100k", BASE_URL + "ml-100k.zip",
        md5="0e33842e24a9c977be4e0107933c0723",
        sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        size=4924029,
    ),
    "ml-1m": Release(
        "ml-1m", "ml-1m", BASE_URL + "ml-1m.zip",
        md5="c4d9eecfca2ab87c1945afe126590906",
        sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        size=5917549,
    ),
    "ml-20m": Release(
        "ml-20m", "csv", BASE_URL + "ml-20m.zip",
        md5="cd245b17a1ae2cc31bb14903e1204af3",
        sha256="96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
        size=198702078,
    ),
    "ml-25m": Release(
        "ml-25m", "csv", BASE_URL + "ml-25m.zip",
        md5="6b51fb2759a8657d3bfcbfc42b592ada",
        sha256="8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
        size=261978986,
    ),
    # GroupLens calls ml-latest-small a "development" dataset that "may change over
    # time", so no checksum is pinned: the published ml-latest-small.zip.md5 is
    # fetched (and cached) and the zip verified against it. (tensorflow_datasets
    # recorded sha256 696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436,
    # 978,202 bytes, for the September 2018 release.)
    "ml-latest-small": Release("ml-latest-small", "csv", BASE_URL + "ml-latest-small.zip"),
}
MOVIELENS_NAMES = tuple(MOVIELENS_RELEASES)

# The file whose presence marks a directory as holding each layout.
_RATINGS_FILE = {"ml-100k": "u.data", "ml-1m": "ratings.dat", "csv": "ratings.csv"}
_EXTRACTED_MARKER = ".hncf-zip-md5"


@dataclass
class MovieLensData:
    """A loaded MovieLens release: interactions (raw ids) and item metadata.

    ``report`` (JSON-able) says what the loader changed or found, by file: ratings read and
    kept, duplicate (user, item) rows merged (rule :data:`hncf.data.schema.DUPLICATE_RULE`,
    with the file lines of a few), rated movies the movies file does not list (added to
    ``items`` with an empty title) and movies without genres. :meth:`report_lines` words it.
    """

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    source: Path | None = field(default=None, repr=False)
    report: dict = field(default_factory=dict, repr=False)

    def report_lines(self) -> list[str]:
        """The load report as short lines for a run log: a summary, then one line per finding."""
        return load_report_lines(self.report)

    @property
    def n_users(self) -> int:
        """Number of distinct users with at least one rating."""
        return int(self.interactions[USER].nunique())

    @property
    def n_items(self) -> int:
        """Number of distinct rated items (the items table may list more movies)."""
        return int(self.interactions[ITEM].nunique())

    def __repr__(self) -> str:
        return (
            f"MovieLensData(name={self.name!r}, ratings={len(self.interactions):,}, "
            f"users={self.n_users:,}, rated_items={self.n_items:,}, movies={len(self.items):,})"
        )


# ---------------------------------------------------------------------------
# Table reading with precise error reporting
# ---------------------------------------------------------------------------

# Field kinds: "int" (required integer), "id" (required integer >= 0), "float" (required finite
# number), "Int64" (optional integer), "str" (required non-empty text), "opt" (optional text).
_PANDAS_DTYPE = {"int": "int64", "id": "int64", "float": "float64", "Int64": "Int64", "str": "str", "opt": "str"}


@dataclass(frozen=True)
class RatingScale:
    """The ratings a release can hold: ``lo`` to ``hi`` in steps of ``step``."""

    lo: float
    hi: float
    step: float
    label: str

    def valid(self, x: np.ndarray) -> np.ndarray:
        """Vectorised: which values lie on the scale (NaN never does)."""
        x = np.asarray(x, dtype=np.float64)
        steps = (x - self.lo) / self.step
        with np.errstate(invalid="ignore"):
            return (x >= self.lo) & (x <= self.hi) & (np.abs(steps - np.round(steps)) < 1e-6)


# GroupLens' scales: ml-100k and ml-1m hold whole stars, the csv releases half stars.
WHOLE_STARS = RatingScale(1.0, 5.0, 1.0, "whole stars 1 to 5")
HALF_STARS = RatingScale(0.5, 5.0, 0.5, "half stars 0.5 to 5.0")
RATING_SCALES = {"ml-100k": WHOLE_STARS, "ml-1m": WHOLE_STARS, "csv": HALF_STARS}


@dataclass(frozen=True)
class _Format:
    sep: str
    fields: tuple[tuple[str, str], ...]  # (name, kind), in file order
    header: bool = False  # the first line names the columns (and must equal the names)
    encoding: str = "utf-8"
    scale: tuple[str, RatingScale] | None = None  # (field, scale) the field's values must lie on

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.fields]


def _check_kind(value: str, kind: str, scale: RatingScale | None = None) -> str | None:
    """Why ``value`` is not a valid ``kind`` (on ``scale`` when given), or None when it is."""
    if kind in ("int", "Int64", "id"):
        if kind == "Int64" and value == "":
            return None
        try:
            x = int(value)
        except ValueError:
            return f"{value!r} is not an integer"
        if kind == "id" and x < 0:
            return f"{value!r} is a negative id"
    elif kind == "float":
        try:
            x = float(value)
        except ValueError:
            return f"{value!r} is not a number"
        if not np.isfinite(x):
            return f"{value!r} is not a finite number"
        if scale is not None and not scale.valid(x):
            return f"{value!r} is outside the rating scale ({scale.label})"
    elif kind == "str" and value == "":
        return "empty value"
    return None


def _locate_bad_line(path: Path, fmt: _Format) -> tuple[int, str, str] | None:
    """Scan ``path`` for the first line that does not fit ``fmt``: (line number, line, problem).

    Only called after vectorised parsing failed, so a Python loop is fine here.
    """
    n = len(fmt.fields)
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode(fmt.encoding).rstrip("\r\n")
            except UnicodeDecodeError as e:
                return lineno, raw.decode("latin-1").rstrip("\r\n"), f"not valid {fmt.encoding} ({e.reason})"
            if fmt.header and lineno == 1:
                continue
            if not line.strip():
                continue  # pandas skips blank lines too
            values = next(csv.reader([line])) if fmt.sep == "," else line.split(fmt.sep)
            if len(values) != n:
                return lineno, line, f"expected {n} fields separated by {fmt.sep!r}, found {len(values)}"
            for (name, kind), value in zip(fmt.fields, values):
                scale = fmt.scale[1] if fmt.scale is not None and fmt.scale[0] == name else None
                problem = _check_kind(value, kind, scale)
                if problem:
                    return lineno, line, f"{name}: {problem}"
    return None


def _raise_bad_line(path: Path, fmt: _Format, cause: Exception | None = None) -> None:
    found = _locate_bad_line(path, fmt)
    if found is None:
        if cause is None:
            return
        raise SchemaError(f"{path}: could not parse as {fmt.names}: {cause}") from cause
    lineno, line, problem = found
    shown = line if len(line) <= 200 else line[:200] + "..."
    raise SchemaError(f"{path}, line {lineno}: {problem}: {shown!r}") from cause


def _check_header(path: Path, fmt: _Format) -> None:
    with open(path, encoding=fmt.encoding, newline="") as f:
        first = f.readline().lstrip("\ufeff").rstrip("\r\n")
    if not first and path.stat().st_size == 0:
        raise SchemaError(f"{path}: the file is empty; expected a header line {fmt.names} and data lines")
    found = next(csv.reader([first])) if first else []
    if found != fmt.names:
        raise SchemaError(
            f"{path}: wrong columns in the header line; expected {fmt.names}, found {found}"
        )


def _read_table(path: Path, fmt: _Format) -> pd.DataFrame:
    """Parse a delimited file into a DataFrame with the format's names and dtypes."""
    if fmt.header:
        _check_header(path, fmt)
    source: Path | io.BytesIO = path
    sep = fmt.sep
    if len(sep) > 1:
        # pandas' C parser takes single-character separators only and the python
        # engine is ~10x slower on ml-1m, so swap "::" for a control character the
        # data does not contain.
        data = path.read_bytes()
        if b"\x1f" in data:
            raise SchemaError(f"{path}: unexpected control character 0x1f in the data")
        source, sep = io.BytesIO(data.replace(sep.encode(), b"\x1f")), "\x1f"
    # Positional keys without a header line (columns are 0..n-1), names with one.
    dtypes = {(name if fmt.header else i): _PANDAS_DTYPE[kind] for i, (name, kind) in enumerate(fmt.fields)}
    if not fmt.header and not _has_data(path):
        # pandas cannot parse a file without a line; an empty table lets the caller say what is missing.
        return pd.DataFrame({name: pd.Series(dtype=_PANDAS_DTYPE[kind]) for name, kind in fmt.fields})
    try:
        df = pd.read_csv(
            source,
            sep=sep,
            header=0 if fmt.header else None,
            dtype=dtypes,
            encoding=fmt.encoding,
            # Titles contain quotes in the ::/|/tab formats; only the csv releases quote fields.
            quoting=csv.QUOTE_MINIMAL if fmt.sep == "," else csv.QUOTE_NONE,
            keep_default_na=False,
            na_values=[""],
            engine="c",
        )
    except (ValueError, pd.errors.ParserError) as e:
        _raise_bad_line(path, fmt, e)
        raise  # unreachable: _raise_bad_line raises when given a cause
    if df.shape[1] != len(fmt.fields):
        _raise_bad_line(path, fmt, SchemaError(f"found {df.shape[1]} columns, expected {len(fmt.fields)}"))
    df.columns = fmt.names
    suspicious = np.zeros(len(df), dtype=bool)
    for name, kind in fmt.fields:
        if kind == "float":
            values = df[name].to_numpy(dtype=np.float64)
            suspicious |= ~np.isfinite(values)
            if fmt.scale is not None and fmt.scale[0] == name:
                suspicious |= ~fmt.scale[1].valid(values)
        elif kind == "id":
            suspicious |= df[name].to_numpy() < 0
        elif kind == "str":
            suspicious |= df[name].isna().to_numpy()
    if suspicious.any():
        # A NaN or off-scale rating, a negative id or an empty required field; the scan finds the line.
        _raise_bad_line(path, fmt, SchemaError(f"{int(suspicious.sum())} row(s) with missing or invalid values"))
    for name, kind in fmt.fields:
        if kind == "opt":
            df[name] = df[name].fillna("")
    return df


def _has_data(path: Path) -> bool:
    """Whether ``path`` holds anything but whitespace (read in chunks: stops at the first data)."""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 16):
            if chunk.strip():
                return True
    return False


def _line_numbers(path: Path, header: bool, rows) -> dict[int, int]:
    """1-based file line of each 0-based data row (pandas skips blank lines, so count them).

    Only called to name the lines of a few reported rows; stops after the last one.
    """
    wanted = sorted({int(r) for r in rows})
    out: dict[int, int] = {}
    if not wanted:
        return out
    k, row = 0, -1
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if (header and lineno == 1) or not raw.strip():
                continue
            row += 1
            if row == wanted[k]:
                out[row] = lineno
                k += 1
                if k == len(wanted):
                    break
    return out


def _require(path: Path, name: str, hint: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found ({name}). {hint}")
    return path


# ---------------------------------------------------------------------------
# Item metadata helpers
# ---------------------------------------------------------------------------

# "(1995)" at the end of a title; also TV series "(2006-2007)" / "(2006–2007)" -> 2006.
_YEAR_RE = r"\((\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$"


def parse_year(titles: pd.Series) -> pd.Series:
    """Year from titles like ``"Toy Story (1995)"`` as nullable Int64 (NA when absent)."""
    return titles.str.extract(_YEAR_RE, expand=False).astype("Int64")


def _items_frame(ids, titles: pd.Series, genres: pd.Series) -> pd.DataFrame:
    titles = titles.fillna("").str.strip()
    return pd.DataFrame({
        ITEM: np.asarray(ids, dtype=np.int64),
        TITLE: titles.to_numpy(),
        YEAR: parse_year(titles).to_numpy(),
        GENRES: genres.fillna("").to_numpy(),
    }).astype({YEAR: "Int64"})


def _interactions_frame(df: pd.DataFrame, u: str, i: str, r: str, t: str) -> pd.DataFrame:
    return pd.DataFrame({
        USER: df[u].to_numpy(dtype=np.int64),
        ITEM: df[i].to_numpy(dtype=np.int64),
        RATING: df[r].to_numpy(dtype=np.float32),
        TIMESTAMP: df[t].to_numpy(dtype=np.int64),
    })


# ---------------------------------------------------------------------------
# The three on-disk layouts
# ---------------------------------------------------------------------------

_RATING_FIELDS = (("user", "id"), ("item", "id"), ("rating", "float"), ("timestamp", "int"))


def _load_100k(d: Path, hint: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    ratings = _read_table(_require(d / "u.data", "ratings", hint), _RATINGS_FORMAT["ml-100k"])
    genre_tab = _read_table(
        _require(d / "u.genre", "genre names", hint),
        _Format("|", (("genre", "str"), ("index", "int")), encoding="latin-1"),
    )
    if len(genre_tab) == 0:
        raise SchemaError(f"{d / 'u.genre'}: no genre names (no data lines); u.item's genre flags need them")
    names = genre_tab.sort_values("index")["genre"].tolist()
    fields = (("movie id", "id"), ("movie title", "str"), ("release date", "opt"),
              ("video release date", "opt"), ("IMDb URL", "opt")) + tuple((g, "int") for g in names)
    movies = _read_table(_require(d / "u.item", "movies", hint), _Format("|", fields, encoding="latin-1"))
    flags = movies[names].to_numpy()
    if not np.isin(flags, (0, 1)).all():
        row = int(np.flatnonzero(~np.isin(flags, (0, 1)).all(axis=1))[0])
        raise SchemaError(f"{d / 'u.item'}, line {row + 1}: genre flags must be 0 or 1")
    # A 0/1 flag times "Name|" is "" or "Name|"; summing the object row concatenates.
    joined = (flags.astype(object) * np.array([g + "|" for g in names], dtype=object)).sum(axis=1)
    genres = pd.Series(joined, dtype=object).astype(str).str.rstrip("|")
    items = _items_frame(movies["movie id"], movies["movie title"], genres)
    # A few ml-100k titles carry no "(year)" (item 267 "unknown", item 1412 is
    # truncated); the release date "01-Jan-1995" still gives the year.
    release_year = movies["release date"].str.extract(r"(\d{4})\s*$", expand=False).astype("Int64")
    items[YEAR] = items[YEAR].fillna(pd.Series(release_year.to_numpy(), dtype="Int64"))
    return _interactions_frame(ratings, "user", "item", "rating", "timestamp"), items


def _load_1m(d: Path, hint: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    ratings = _read_table(_require(d / "ratings.dat", "ratings", hint), _RATINGS_FORMAT["ml-1m"])
    movies = _read_table(
        _require(d / "movies.dat", "movies", hint),
        _Format("::", (("item", "id"), ("title", "str"), ("genres", "opt")), encoding="latin-1"),
    )
    items = _items_frame(movies["item"], movies["title"], movies["genres"])
    return _interactions_frame(ratings, "user", "item", "rating", "timestamp"), items


_CSV_RATINGS = _Format(",", (("userId", "id"), ("movieId", "id"), ("rating", "float"), ("timestamp", "int")),
                       header=True, scale=("rating", HALF_STARS))
_CSV_MOVIES = _Format(",", (("movieId", "id"), ("title", "str"), ("genres", "opt")), header=True)
_CSV_TAGS = _Format(",", (("userId", "id"), ("movieId", "id"), ("tag", "opt"), ("timestamp", "int")), header=True)
_CSV_LINKS = _Format(",", (("movieId", "id"), ("imdbId", "opt"), ("tmdbId", "Int64")), header=True)
_RATINGS_FORMAT = {
    "ml-100k": _Format("\t", _RATING_FIELDS, scale=("rating", WHOLE_STARS)),
    "ml-1m": _Format("::", _RATING_FIELDS, encoding="latin-1", scale=("rating", WHOLE_STARS)),
    "csv": _CSV_RATINGS,
}
_FILES = {"ml-100k": ("u.data", "u.item"), "ml-1m": ("ratings.dat", "movies.dat"), "csv": ("ratings.csv", "movies.csv")}


def _tags_by_movie(tags: pd.DataFrame) -> pd.Series:
    """``movieId -> "tag1|tag2"``: distinct tags in first-use order."""
    tags = tags.loc[tags["tag"].str.strip() != "", ["movieId", "tag"]]
    # "|" is the list separator, so a literal "|" inside a tag becomes "/".
    tags = tags.assign(tag=tags["tag"].str.strip().str.replace("|", "/", regex=False))
    tags = tags.drop_duplicates()
    return tags.groupby("movieId", sort=False)["tag"].agg("|".join)


def _load_csv(d: Path, hint: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    ratings = _read_table(_require(d / "ratings.csv", "ratings", hint), _CSV_RATINGS)
    movies = _read_table(_require(d / "movies.csv", "movies", hint), _CSV_MOVIES)
    genres = movies["genres"].where(movies["genres"] != "(no genres listed)", "")
    items = _items_frame(movies["movieId"], movies["title"], genres)
    if (d / "tags.csv").is_file():
        per_movie = _tags_by_movie(_read_table(d / "tags.csv", _CSV_TAGS))
        items[TAGS] = items[ITEM].map(per_movie).fillna("").astype(str)
    if (d / "links.csv").is_file():
        links = _read_table(d / "links.csv", _CSV_LINKS).drop_duplicates("movieId").set_index("movieId")
        items[IMDB_ID] = items[ITEM].map(links["imdbId"]).fillna("").astype(str)
        items[TMDB_ID] = items[ITEM].map(links["tmdbId"]).astype("Int64")
    return _interactions_frame(ratings, "userId", "movieId", "rating", "timestamp"), items


_LOADERS = {"ml-100k": _load_100k, "ml-1m": _load_1m, "csv": _load_csv}


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def get_release(name: str) -> Release:
    """The registry entry for ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return MOVIELENS_RELEASES[name]
    except KeyError:
        raise ValueError(
            f"unknown MovieLens dataset {name!r}; known: {', '.join(MOVIELENS_NAMES)}"
        ) from None


# What a folder must hold for the loader to read each layout (tags.csv and links.csv are optional).
_REQUIRED_FILES = {"ml-100k": ("u.data", "u.item", "u.genre"), "ml-1m": ("ratings.dat", "movies.dat"),
                   "csv": ("ratings.csv", "movies.csv")}


def missing_release_files(name: str, folder: str | os.PathLike) -> list[str]:
    """The files of release ``name`` that ``folder`` lacks (empty when it holds a readable copy)."""
    folder = Path(folder)
    return [f for f in _REQUIRED_FILES[get_release(name).layout] if not (folder / f).is_file()]


_MAX_EXAMPLES = 5


def _clean(name: str, layout: str, d: Path, interactions: pd.DataFrame,
           items: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Refuse an empty release, merge duplicate ratings, list unlisted and genre-less movies."""
    ratings_name, movies_name = _FILES[layout]
    ratings_path, movies_path = d / ratings_name, d / movies_name
    fmt = _RATINGS_FORMAT[layout]
    if len(interactions) == 0:
        raise SchemaError(
            f"{ratings_path}: no ratings ({'only the header line' if fmt.header else 'no data lines'}); "
            f"{name} needs at least one rating to split and train on"
        )
    if len(items) == 0:
        raise SchemaError(f"{movies_path}: no movies ({'only the header line' if fmt.header else 'no data lines'})")
    report: dict = {"dataset": name, "source": str(d), "ratings_file": str(ratings_path),
                    "rows_read": len(interactions)}

    interactions, dup = merge_duplicates(interactions, max_examples=_MAX_EXAMPLES)
    if dup["rows_dropped"]:
        lines = _line_numbers(ratings_path, fmt.header, [r for e in dup["examples"] for r in e["rows"]])
        dup["examples"] = [
            {"user": e["user"], "item": e["item"], "lines": [lines.get(r) for r in e["rows"]],
             "kept_line": lines.get(e["kept_row"])}
            for e in dup["examples"]
        ]
        # The index keeps each row's position in the file (as the splitters rely on), gaps and all.
    else:
        dup["examples"] = []
    dup["file"] = str(ratings_path)
    report["duplicates"] = dup
    report["ratings"] = len(interactions)

    no_genres = items[GENRES].astype(str).str.strip().isin(["", "(no genres listed)"]).to_numpy()
    report["movies_without_genres"] = {
        "file": str(movies_path), "movies": int(no_genres.sum()),
        "examples": [int(i) for i in items[ITEM].to_numpy()[no_genres][:_MAX_EXAMPLES]],
    }

    rated = interactions[ITEM].to_numpy()
    unlisted_rows = ~np.isin(rated, items[ITEM].to_numpy())
    unlisted = np.unique(rated[unlisted_rows])
    report["unlisted_items"] = {
        "file": str(movies_path), "items": len(unlisted), "ratings": int(unlisted_rows.sum()),
        "examples": [int(i) for i in unlisted[:_MAX_EXAMPLES]],
    }
    if len(unlisted):
        # Rated but not in the movies file: kept (their ratings are real), with an empty title.
        extra = pd.DataFrame({ITEM: unlisted.astype(np.int64), TITLE: "", GENRES: ""})
        extra[YEAR] = pd.array([pd.NA] * len(unlisted), dtype="Int64")
        for col in (TAGS, IMDB_ID):
            if col in items.columns:
                extra[col] = ""
        if TMDB_ID in items.columns:
            extra[TMDB_ID] = pd.array([pd.NA] * len(unlisted), dtype="Int64")
        items = pd.concat([items, extra[list(items.columns)]], ignore_index=True)
        items = items.astype({YEAR: "Int64", **({TMDB_ID: "Int64"} if TMDB_ID in items.columns else {})})
    return interactions, items, report


def load_report_lines(report: dict) -> list[str]:
    """A load report (``MovieLensData.report``) as lines: a summary, then one line per finding."""
    if not report:
        return []
    read = f" ({report['rows_read']:,} rows read)" if report["rows_read"] != report["ratings"] else ""
    lines = [f"{report['dataset']}: {report['ratings']:,} ratings{read} from {report['ratings_file']}"]
    dup = report.get("duplicates", {})
    if dup.get("rows_dropped"):
        shown = "; ".join(
            f"user {e['user']} item {e['item']} on lines {', '.join(str(n) for n in e['lines'])} "
            f"(kept line {e['kept_line']})" for e in dup["examples"][:3]
        )
        lines.append(f"{dup['file']}: merged {dup['rows_dropped']:,} duplicate row(s) of {dup['pairs']:,} "
                     f"(user, item) pair(s) (kept the latest by timestamp; ties: the last in file order); "
                     f"e.g. {shown}")
    unlisted = report.get("unlisted_items", {})
    if unlisted.get("items"):
        lines.append(f"{unlisted['file']}: {unlisted['items']:,} rated movie id(s) not listed "
                     f"({unlisted['ratings']:,} rating(s)), kept with an empty title, e.g. "
                     f"{', '.join(str(i) for i in unlisted['examples'])}")
    genres = report.get("movies_without_genres", {})
    if genres.get("movies"):
        lines.append(f"{genres['file']}: {genres['movies']:,} movie(s) without genres (empty or "
                     f"'(no genres listed)'), e.g. ids {', '.join(str(i) for i in genres['examples'])}")
    return lines


def read_movielens_dir(name: str, directory: str | os.PathLike, *, progress: bool = False) -> MovieLensData:
    """Parse an unzipped release ``name`` from ``directory`` (no download).

    Beyond parsing (bad lines, wrong columns, negative ids and ratings off the release's
    scale raise :class:`SchemaError` naming the file and line): an empty ratings or movies
    file is an error; repeated (user, item) ratings are merged by
    :data:`hncf.data.schema.DUPLICATE_RULE`; rated movies missing from the movies file are
    added to ``items`` with an empty title. All of it is counted in ``report``, printed
    when ``progress``.
    """
    release = get_release(name)
    d = Path(directory).expanduser()
    hint = (
        f"Expected the unzipped {name} folder from {release.url}. Point data_dir= "
        f"(--data-dir on the command line, or ${DATA_ENV}/{name}) at it, or let "
        f"load_movielens({name!r}) download it."
    )
    interactions, items = _LOADERS[release.layout](d, hint)
    interactions, items, report = _clean(name, release.layout, d, interactions, items)
    data = MovieLensData(name=name, interactions=interactions, items=items, source=d, report=report)
    if progress:
        for line in data.report_lines():
            print(f"[hncf] {line}", flush=True)
    return data


def _published_md5(release: Release, cache_dir, progress: bool) -> str:
    path = fetch(release.md5_url, cache_dir, progress=progress)
    text = path.read_text(encoding="ascii", errors="replace")
    # GroupLens writes "MD5 (ml-latest-small.zip) = <hex>"; md5sum writes "<hex>  <file>".
    match = re.search(r"\b([0-9a-fA-F]{32})\b", text)
    if not match:
        path.unlink(missing_ok=True)
        raise SchemaError(f"{release.md5_url} (cached as {path}) holds no md5 checksum: {text[:200]!r}")
    return match.group(1).lower()


def _safe_extract(zf: zipfile.ZipFile, dest: Path, zip_path: Path) -> None:
    root = dest.resolve()
    for member in zf.namelist():
        target = (dest / member).resolve()
        if target != root and root not in target.parents:
            raise SchemaError(f"{zip_path}: member {member!r} would extract outside {dest}")
    zf.extractall(dest)


def _extract(zip_path: Path, dest: Path) -> None:
    with zipfile.ZipFile(zip_path) as zf:
        _safe_extract(zf, dest, zip_path)


def download_movielens(name: str, cache_dir: str | os.PathLike | None = None, *,
                       progress: bool = True) -> Path:
    """Download (once) and unzip release ``name`` into ``cache_dir``; return the data folder.

    The zip is verified against the pinned md5/sha256, or against the
    published ``<name>.zip.md5`` when none is pinned. Extraction happens in a
    temporary folder that is renamed into place, and is redone when the zip's
    md5 differs from the one recorded at the last extraction.
    """
    release = get_release(name)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    md5 = release.md5 or _published_md5(release, cache, progress)
    zip_name = Path(urllib.parse.urlparse(release.url).path).name or f"{name}.zip"
    zip_path = fetch(release.url, cache, md5=md5, sha256=release.sha256, fname=zip_name, progress=progress)
    zip_md5 = md5

    out = cache / name
    marker = out / _EXTRACTED_MARKER
    if marker.is_file() and marker.read_text().strip() == zip_md5:
        return out
    ratings_file = _RATINGS_FILE[release.layout]
    with tempfile.TemporaryDirectory(dir=cache, prefix=f".{name}.extract.") as tmp:
        # One level down, so the folder moved out is never the temporary directory itself.
        tmp = Path(tmp) / "unzipped"
        try:
            _extract(zip_path, tmp)
        except zipfile.BadZipFile as e:
            # It passed its checksum, so the cache is not to blame; never keep an unusable zip.
            zip_path.unlink(missing_ok=True)
            raise SchemaError(f"{zip_path} (from {release.url}) is not a valid zip ({e}); deleted it, "
                              f"so the next run downloads it again") from e
        found = sorted(tmp.rglob(ratings_file))
        if not found:
            raise FileNotFoundError(
                f"{zip_path} (from {release.url}) contains no {ratings_file}; not a {name} archive"
            )
        data = found[0].parent
        (data / _EXTRACTED_MARKER).write_text(zip_md5 + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(data, out)
    return out


def resolve_data_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """The local folder to read ``name`` from, or None when it should be downloaded.

    ``data_dir`` may be the release folder itself or its parent; without it,
    ``$HNCF_DATA_DIR/<name>`` is used when that folder exists.
    """
    release = get_release(name)
    ratings_file = _RATINGS_FILE[release.layout]
    if data_dir is not None:
        d = Path(data_dir).expanduser()
        if not (d / ratings_file).exists() and (d / name / ratings_file).exists():
            d = d / name
        return d
    env = os.environ.get(DATA_ENV)
    if env:
        if (Path(env).expanduser() / name).is_dir():
            return Path(env).expanduser() / name
        _log.warning("hncf: warning: $%s is %s but holds no %s/ folder (%s not found); looking in the "
                     "download cache instead", DATA_ENV, env, name, Path(env).expanduser() / name)
    return None


def load_movielens(name: str, data_dir: str | os.PathLike | None = None,
                   cache_dir: str | os.PathLike | None = None, *, download: bool = True,
                   progress: bool = True) -> MovieLensData:
    """Load MovieLens release ``name`` (one of :data:`MOVIELENS_NAMES`).

    Reads ``data_dir`` (or ``$HNCF_DATA_DIR/<name>``) when given; otherwise
    downloads the official GroupLens zip into ``cache_dir`` (default
    ``$HNCF_CACHE_DIR`` or ``~/.cache/hncf``) unless ``download=False``.
    What the loader merged or found is in the result's ``report`` (see
    :func:`read_movielens_dir`), printed when ``progress``.
    """
    release = get_release(name)
    d = resolve_data_dir(name, data_dir)
    if d is None:
        if not download:
            raise FileNotFoundError(
                f"no local copy of {name}: pass data_dir= (--data-dir) pointing at the unzipped "
                f"folder, set ${DATA_ENV} to a folder containing {name}/, or allow the download "
                f"of {release.url}"
            )
        d = download_movielens(name, cache_dir, progress=progress)
    return read_movielens_dir(name, d, progress=progress)


def _as_int_ids(s: pd.Series) -> pd.Series:
    # Numeric ids become int64 so they match MovieLens ids; anything else (or ids
    # with leading zeros, which int parsing would merge) stays text.
    if len(s) and s.str.fullmatch(r"-?(?:0|[1-9]\d*)").all():
        return s.astype(np.int64)
    return s


def load_interactions_csv(path: str | os.PathLike, user_col: str = "userId", item_col: str = "movieId",
                          rating_col: str | None = "rating", timestamp_col: str | None = "timestamp",
                          *, sep: str = ",", encoding: str = "utf-8") -> pd.DataFrame:
    """Read a user's own interactions file (with a header line) into the schema.

    Ids stay as they are (int64 when every id is a plain integer, else text).
    Without ``rating_col`` every rating is 1.0 (implicit feedback); without
    ``timestamp_col`` timestamps are 0, so chronological splits fall back to
    file order. Timestamps may be integers (seconds) or date strings.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (interactions file)")
    wanted = [c for c in (user_col, item_col, rating_col, timestamp_col) if c is not None]
    with open(path, encoding=encoding, newline="") as f:
        first = f.readline().lstrip("\ufeff").rstrip("\r\n")
    header = next(csv.reader([first], delimiter=sep)) if first else []
    missing = [c for c in wanted if c not in header]
    if missing:
        raise SchemaError(
            f"{path}: missing column(s) {missing} in the header line; expected {wanted}, found {header}"
        )
    kinds = {user_col: "str", item_col: "str"}
    if rating_col is not None:
        kinds[rating_col] = "float"
    fmt = _Format(sep, tuple((c, kinds.get(c, "opt")) for c in header), header=True, encoding=encoding)
    try:
        raw = pd.read_csv(path, sep=sep, usecols=wanted, dtype=str, encoding=encoding,
                          keep_default_na=False, na_values=[""])
    except (ValueError, pd.errors.ParserError) as e:
        _raise_bad_line(path, fmt, e)
        raise
    bad = raw[user_col].isna().to_numpy() | raw[item_col].isna().to_numpy()
    rating = (pd.to_numeric(raw[rating_col], errors="coerce").to_numpy(dtype=np.float64)
              if rating_col is not None else np.ones(len(raw)))
    bad |= ~np.isfinite(rating)
    if timestamp_col is not None:
        ts_text = raw[timestamp_col]
        ts_num = pd.to_numeric(ts_text, errors="coerce")
        if ts_num.notna().all() and (ts_num % 1 == 0).all():
            timestamp = ts_num.to_numpy(dtype=np.int64)
        else:
            # ISO 8601 parses vectorised; anything else falls back to per-value inference.
            parsed = pd.to_datetime(ts_text, errors="coerce", utc=True, format="ISO8601")
            if parsed.isna().any():
                parsed = pd.to_datetime(ts_text, errors="coerce", utc=True, format="mixed")
            if parsed.isna().any():
                row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
                raise SchemaError(
                    f"{path}: {timestamp_col} {ts_text.iloc[row]!r} in data row {row + 1} "
                    f"(line {row + 2} if the file has no blank or multi-line rows) is neither "
                    f"integer seconds nor a date"
                )
            timestamp = (parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
            timestamp = timestamp.to_numpy(dtype=np.int64)
    else:
        timestamp = np.zeros(len(raw), dtype=np.int64)
    if bad.any():
        _raise_bad_line(path, fmt, SchemaError("missing id or non-finite rating"))
    return pd.DataFrame({
        USER: _as_int_ids(raw[user_col]).to_numpy(),
        ITEM: _as_int_ids(raw[item_col]).to_numpy(),
        RATING: rating.astype(np.float32),
        TIMESTAMP: timestamp,
    })
