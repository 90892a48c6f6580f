"""Netflix data from local files: the titles catalogue and the Netflix Prize ratings.

* :func:`load_netflix_titles` reads Kaggle's ``netflix_titles.csv`` (show_id, type, title, director,
  cast, country, date_added, release_year, rating, duration, listed_in, description). Its real quirks
  are repaired and counted, never fatal: three rows (s5542, s5795, s5814) carry the duration in the
  ``rating`` column; many rows lack a director, cast or country; some titles are numbers ("9", "1922",
  "3%"), which must stay text. Rows with the wrong number of fields, an empty id or a repeated id are
  skipped and reported with their line numbers.
* :func:`load_prize_ratings` reads the Netflix Prize ``combined_data_*.txt`` files (blocks of a
  ``MovieID:`` line followed by ``CustomerID,Rating,Date`` lines) and :func:`load_prize_titles` reads
  ``movie_titles.csv`` (ISO-8859-1, ``MovieID,YearOfRelease,Title`` with unquoted commas inside titles
  and ``NULL`` years).
* :func:`link_to_movielens` joins catalogue titles to MovieLens movies by normalised title + year.
"""

from __future__ import annotations

import csv
import io
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hncf.data.schema import GENRES, ITEM, RATING, TIMESTAMP, TITLE, USER, YEAR, SchemaError

TITLES_COLUMNS = ("show_id", "type", "title", "director", "cast", "country", "date_added", "release_year",
                  "rating", "duration", "listed_in", "description")
OPTIONAL_FIELDS = ("director", "cast", "country", "date_added", "rating", "duration")
DESCRIPTION = "description"
_DURATION_RE = r"^\d+\s*(?:min|Seasons?)$"


@dataclass
class NetflixCatalog:
    """The catalogue (one row per title, in file order) and what was repaired or skipped while reading.

    ``items`` columns: ``item`` (the stable ``show_id``), ``type``, ``title``, ``year`` (nullable Int64),
    ``genres`` ("|"-joined ``listed_in``), ``description``, and the other fields as text ("" when missing).
    ``report``: ``rows``, ``skipped`` (list of ``{"line", "reason"}``), ``duration_in_rating`` (show ids
    whose duration was moved out of ``rating``), ``missing`` (per field), ``numeric_titles``.
    """

    items: pd.DataFrame
    report: dict = field(default_factory=dict)
    source: Path | None = None

    def __len__(self) -> int:
        return len(self.items)


def _skip(report: dict, line: int, reason: str) -> None:
    report["skipped"].append({"line": int(line), "reason": reason})


def load_netflix_titles(path: str | os.PathLike) -> NetflixCatalog:
    """Read ``netflix_titles.csv``; quirks are repaired and counted in ``report`` (see :class:`NetflixCatalog`).

    Raises ``FileNotFoundError`` for a missing file and :class:`SchemaError` for a header without the
    required columns; bad rows are skipped and reported with their 1-based line numbers.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (Netflix titles catalogue, netflix_titles.csv)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise SchemaError(f"{path}, line {line}: not valid UTF-8 ({e.reason})") from e
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise SchemaError(f"{path} is empty; expected the header {list(TITLES_COLUMNS)}") from None
    header = [h.strip() for h in header]
    required = ("show_id", "title", "listed_in", "description")
    missing_cols = [c for c in required if c not in header]
    if missing_cols:
        raise SchemaError(f"{path}: header lacks column(s) {missing_cols}; expected {list(TITLES_COLUMNS)}, "
                          f"found {header}")
    report = {"file": str(path), "rows": 0, "skipped": [], "duration_in_rating": [], "missing": {},
              "numeric_titles": 0}
    rows, lines = [], []
    n = len(header)
    # csv.reader is C code; one pass keeps exact line numbers for multi-line quoted fields.
    start = reader.line_num + 1
    for values in reader:
        line = start
        start = reader.line_num + 1
        if not values or (len(values) == 1 and not values[0].strip()):
            continue
        if len(values) != n:
            _skip(report, line, f"expected {n} fields, found {len(values)}")
            continue
        rows.append(values)
        lines.append(line)
    df = pd.DataFrame(rows, columns=header, dtype=object)
    for c in TITLES_COLUMNS:
        if c not in df.columns:
            df[c] = ""
    df = df.apply(lambda s: s.str.strip())
    line_no = np.asarray(lines, dtype=np.int64)

    bad_id = (df["show_id"] == "").to_numpy()
    dup = df["show_id"].duplicated().to_numpy() & ~bad_id
    no_title = (df["title"] == "").to_numpy()
    for mask, reason in ((bad_id, "empty show_id"), (dup, "repeated show_id"), (no_title, "empty title")):
        for ln, sid in zip(line_no[mask], df["show_id"][mask]):
            _skip(report, ln, reason + (f" {sid!r}" if sid else ""))
    keep = ~(bad_id | dup | no_title)
    df, line_no = df[keep].reset_index(drop=True), line_no[keep]

    # The duration sits in `rating` on a few rows (and `duration` is empty): move it back.
    shifted = (df["rating"].str.match(_DURATION_RE) & (df["duration"] == "")).to_numpy()
    df.loc[shifted, "duration"] = df.loc[shifted, "rating"]
    df.loc[shifted, "rating"] = ""
    report["duration_in_rating"] = df.loc[shifted, "show_id"].tolist()

    year = pd.to_numeric(df["release_year"], errors="coerce")
    report["bad_release_year"] = int((year.isna() & (df["release_year"] != "")).sum())
    report["missing"] = {c: int((df[c] == "").sum()) for c in (*OPTIONAL_FIELDS, "release_year", DESCRIPTION)}
    report["numeric_titles"] = int(df["title"].str.fullmatch(r"[\d\s:%.,]+").sum())
    report["rows"] = int(len(df))
    genres = df["listed_in"].str.split(r"\s*,\s*", regex=True).str.join("|")
    items = pd.DataFrame({
        ITEM: df["show_id"].to_numpy(dtype=object),
        "type": df["type"].to_numpy(dtype=object),
        TITLE: df["title"].to_numpy(dtype=object),
        YEAR: year.astype("Int64").to_numpy(),
        GENRES: genres.to_numpy(dtype=object),
        DESCRIPTION: df[DESCRIPTION].to_numpy(dtype=object),
        **{c: df[c].to_numpy(dtype=object) for c in ("director", "cast", "country", "date_added", "rating",
                                                      "duration")},
        "line": line_no,
    })
    items[YEAR] = items[YEAR].astype("Int64")
    return NetflixCatalog(items=items, report=report, source=path)


def genre_lists(genres: pd.Series) -> list[list[str]]:
    """"a|b" strings as lists of genre names (empty list for "")."""
    return [g.split("|") if g else [] for g in genres.fillna("").astype(str)]


def catalog_texts(items: pd.DataFrame) -> pd.Series:
    """Each title's text for the sentence encoder: "title. genres. description", indexed by item id.

    Titles that are numbers stay text ("1922"); missing parts are left out, so no text is empty
    as long as the title is not.
    """
    text = items[TITLE].astype(str).str.strip().str.rstrip(".")
    genres = items[GENRES].fillna("").astype(str).str.replace("|", ", ", regex=False)
    desc = items[DESCRIPTION] if DESCRIPTION in items.columns else pd.Series("", index=items.index)
    for part in (genres, desc.fillna("").astype(str)):
        part = part.str.strip().str.rstrip(".")
        text = text.where(part == "", text + ". " + part)
    text = text + "."
    return pd.Series(text.to_numpy(dtype=object), index=pd.Index(items[ITEM].to_numpy(), name=ITEM), name="text")


# ---------------------------------------------------------------------------
# Netflix Prize format
# ---------------------------------------------------------------------------


def load_prize_ratings(paths, max_rows: int | None = None) -> tuple[pd.DataFrame, dict]:
    """Read Netflix Prize ``combined_data_*.txt`` files into ``user, item, rating, timestamp`` (+ report).

    Each file holds blocks: a ``MovieID:`` line, then ``CustomerID,Rating,Date`` lines (date
    ``YYYY-MM-DD``, rating 1-5). Parsing is vectorised; malformed lines (a rating line before any movie
    line, wrong field counts, ratings outside 1-5, bad dates) are skipped and listed with file and
    line in ``report["skipped"]`` (the first 100; ``report["n_skipped"]`` counts all).
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise ValueError("load_prize_ratings needs at least one combined_data_*.txt path")
    frames, skipped, n_skipped = [], [], 0
    for p in paths:
        p = Path(p).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found (Netflix Prize combined_data_*.txt)")
        lines = pd.Series(p.read_text(encoding="utf-8", errors="replace").splitlines(), dtype=object)
        lines = lines.str.strip()
        line_no = np.arange(1, len(lines) + 1)
        is_movie = lines.str.fullmatch(r"\d+:").to_numpy()
        movie = pd.Series(np.where(is_movie, lines.str[:-1], None), dtype=object).ffill()
        body = ~is_movie & (lines != "").to_numpy()
        parts = lines[body].str.split(",", expand=True)
        problems = pd.Series("", index=lines.index[body], dtype=object)
        if parts.shape[1] != 3:
            parts = parts.reindex(columns=range(3))
        n_fields = lines[body].str.count(",") + 1
        user = pd.to_numeric(parts[0], errors="coerce")
        rating = pd.to_numeric(parts[1], errors="coerce")
        date = pd.to_datetime(parts[2], format="%Y-%m-%d", errors="coerce")
        problems[(n_fields != 3).to_numpy()] = "expected MovieID: or CustomerID,Rating,Date"
        problems[(problems == "") & movie[body].isna()] = "rating line before any MovieID: line"
        problems[(problems == "") & user.isna()] = "CustomerID is not an integer"
        problems[(problems == "") & ~rating.isin([1, 2, 3, 4, 5])] = "rating is not 1-5"
        problems[(problems == "") & date.isna()] = "date is not YYYY-MM-DD"
        bad = (problems != "").to_numpy()
        n_skipped += int(bad.sum())
        for ln, why in zip(line_no[body][bad][: max(0, 100 - len(skipped))], problems[bad]):
            skipped.append({"file": str(p), "line": int(ln), "reason": why})
        ok = ~bad
        frames.append(pd.DataFrame({
            USER: user[ok].to_numpy(dtype=np.int64),
            ITEM: movie[body][ok].astype(np.int64).to_numpy(),
            RATING: rating[ok].to_numpy(dtype=np.float32),
            TIMESTAMP: ((date[ok] - pd.Timestamp(0)) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64),
        }))
        if max_rows is not None and sum(len(f) for f in frames) >= max_rows:
            break
    out = pd.concat(frames, ignore_index=True)
    if max_rows is not None:
        out = out.iloc[:max_rows]
    return out, {"rows": int(len(out)), "n_skipped": n_skipped, "skipped": skipped}


def load_prize_titles(path: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """Read the Prize's ``movie_titles.csv`` (ISO-8859-1) into ``item, year, title`` (+ report).

    Lines are ``MovieID,YearOfRelease,Title``; titles contain unquoted commas, so each line is split on
    its first two commas only. ``NULL`` years become NA (counted); lines without an integer id are
    skipped with their line numbers.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (Netflix Prize movie_titles.csv)")
    lines = pd.Series(path.read_bytes().decode("iso-8859-1").splitlines(), dtype=object)
    line_no = np.arange(1, len(lines) + 1)
    keep = (lines.str.strip() != "").to_numpy()
    lines, line_no = lines[keep], line_no[keep]
    parts = lines.str.split(",", n=2, expand=True).reindex(columns=range(3))
    item = pd.to_numeric(parts[0], errors="coerce")
    bad = (item.isna() | parts[2].isna()).to_numpy()
    year_text = parts[1].fillna("").str.strip()
    year = pd.to_numeric(year_text.where(year_text != "NULL"), errors="coerce").astype("Int64")
    report = {"rows": int((~bad).sum()), "null_years": int((year_text[~bad] == "NULL").sum()),
              "skipped": [{"line": int(ln), "reason": "expected MovieID,YearOfRelease,Title"}
                          for ln in line_no[bad]]}
    out = pd.DataFrame({ITEM: item[~bad].astype(np.int64).to_numpy(), YEAR: year[~bad].to_numpy(),
                        TITLE: parts[2][~bad].str.strip().to_numpy(dtype=object)})
    out[YEAR] = out[YEAR].astype("Int64")
    return out, report


# ---------------------------------------------------------------------------
# Linking to MovieLens
# ---------------------------------------------------------------------------

_ML_YEAR_RE = r"\s*\(\d{4}(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$"


def normalise_title(titles: pd.Series, movielens: bool = False) -> pd.Series:
    """Comparable titles: accents folded, lowercased, "&" as "and", punctuation dropped, spaces collapsed.

    With ``movielens=True`` the MovieLens conventions are undone first: the trailing "(1995)" year, an
    alternative title in parentheses ("Amelie (Fabuleux destin d'Amelie Poulain, Le)"), and a trailing
    article ("Matrix, The" -> "The Matrix").
    """
    s = titles.fillna("").astype(str).str.strip()
    if movielens:
        s = s.str.replace(_ML_YEAR_RE, "", regex=True)
        s = s.str.replace(r"\s*\([^()]*\)\s*$", "", regex=True)
        s = s.str.replace(r"^(.*?), (The|A|An|Les|Le|La|L'|Il|Das|Der|Die|El)$", r"\2 \1", regex=True)
    s = s.map(lambda t: unicodedata.normalize("NFKD", t).encode("ascii", "ignore").decode("ascii"))
    s = s.str.lower().str.replace("&", " and ", regex=False)
    s = s.str.replace(r"[^\w\s]|_", "", regex=True)
    return s.str.replace(r"\s+", " ", regex=True).str.strip()


def link_to_movielens(catalog_items: pd.DataFrame, ml_items: pd.DataFrame,
                      ml_interactions: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """Link catalogue titles to MovieLens movies with the same normalised title and year.

    Returns ``(links, report)``: ``links`` has ``item`` (catalogue id) and ``ml_item`` (movieId), one row
    per linked title (a title matching several movies keeps the most rated, then the lowest id);
    ``report`` holds the match counts and rate, the case-sensitive exact matches, and, with
    ``ml_interactions``, how many linked movies have at least 10 ratings.
    """
    from hncf.data.movielens import parse_year

    ml_year = ml_items[YEAR] if YEAR in ml_items.columns else parse_year(ml_items[TITLE])
    a = pd.DataFrame({"key": normalise_title(ml_items[TITLE], movielens=True),
                      "year": pd.Series(ml_year.to_numpy()).astype("Int64"),
                      "ml_item": ml_items[ITEM].to_numpy()})
    b = pd.DataFrame({ITEM: catalog_items[ITEM].to_numpy(), "key": normalise_title(catalog_items[TITLE]),
                      "year": catalog_items[YEAR].astype("Int64").to_numpy()})
    a, b = a[a["year"].notna() & (a["key"] != "")], b[b["year"].notna() & (b["key"] != "")]
    links = b.merge(a, on=["key", "year"], how="inner")
    counts = None
    if ml_interactions is not None:
        counts = ml_interactions[ITEM].value_counts()
        links["n_ratings"] = links["ml_item"].map(counts).fillna(0).astype(np.int64)
    else:
        links["n_ratings"] = 0
    links = links.sort_values([ITEM, "n_ratings", "ml_item"], ascending=[True, False, True], kind="stable")
    links = links.drop_duplicates(ITEM).reset_index(drop=True)
    # The simplest rule, for comparison: the raw title (trailing article moved) and year, case-sensitive.
    raw_ml = ml_items[TITLE].astype(str).str.replace(_ML_YEAR_RE, "", regex=True) \
        .str.replace(r"^(.*?), (The|A|An)$", r"\2 \1", regex=True)
    exact = pd.DataFrame({"t": raw_ml, "year": pd.Series(ml_year.to_numpy()).astype("Int64")}).merge(
        pd.DataFrame({"t": catalog_items[TITLE].astype(str).to_numpy(),
                      "year": catalog_items[YEAR].astype("Int64").to_numpy()}), on=["t", "year"])
    n = len(catalog_items)
    report = {"catalog_titles": int(n), "linked": int(len(links)), "match_rate": float(len(links) / max(n, 1)),
              "exact_title_year_matches": int(len(exact)), "ml_movies_linked": int(links["ml_item"].nunique())}
    if counts is not None:
        report["linked_with_10_ratings"] = int((links["n_ratings"] >= 10).sum())
    return links[[ITEM, "ml_item", "n_ratings"]], report


# ---------------------------------------------------------------------------
# Synthetic files in the real formats (tests, notebook quick mode)
# ---------------------------------------------------------------------------

_SYNTH_GENRES = {
    "Horror Movies": ("haunted house", "demon", "terrifying ghost", "a killer stalks", "blood-soaked curse"),
    "Comedies": ("hilarious mishaps", "a clumsy best friend", "a wacky road trip", "laugh-out-loud pranks",
                 "an awkward wedding"),
    "Documentaries": ("this documentary examines", "archival footage", "experts explain", "true story of",
                      "investigative filmmakers"),
    "Romantic Movies": ("falls in love", "a summer romance", "star-crossed lovers", "a second chance at love",
                        "heartfelt longing"),
    "Kids' TV": ("a friendly dragon", "preschool friends learn", "colorful puppets sing", "a playful puppy",
                 "magical school adventures"),
    "Sports Movies": ("the championship game", "an underdog team", "a boxing coach", "Olympic dreams",
                      "the final match"),
}


def write_synthetic_netflix_titles(path, n: int = 60, seed: int = 0) -> Path:
    """Write a small ``netflix_titles.csv`` in the real format, genre-coherent descriptions included.

    It carries the real file's quirks: a duration in the ``rating`` column (with ``duration`` empty),
    missing directors and countries, numeric titles, quoted fields holding commas. Ids are ``s1..sN``.
    """
    rng = np.random.default_rng(seed)
    genres = list(_SYNTH_GENRES)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(1, n + 1):
        g = genres[(k - 1) % len(genres)]
        words = rng.choice(_SYNTH_GENRES[g], size=3, replace=False)
        kind = "TV Show" if g == "Kids' TV" else "Movie"
        title = str(1900 + k) if k % 17 == 0 else f"{g.split()[0]} Story {k}"
        desc = f"In this tale, {words[0]}, {words[1]} and {words[2]} come together."
        rating, duration = ("74 min", "") if k == 5 else (("TV-Y" if kind == "TV Show" else "R"),
                                                         "1 Season" if kind == "TV Show" else f"{80 + k} min")
        rows.append([f"s{k}", kind, title, "" if k % 3 == 0 else f"Director {k}", f"Actor {k}, Actor {k + 1}",
                     "" if k % 4 == 0 else "United States", "September 24, 2021", str(1990 + k % 30), rating,
                     duration, g + (", International Movies" if k % 5 == 0 and kind == "Movie" else ""), desc])
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(TITLES_COLUMNS)
        w.writerows(rows)
    return path


__all__ = ["NetflixCatalog", "write_synthetic_netflix_titles", "TITLES_COLUMNS", "catalog_texts", "genre_lists", "link_to_movielens",
           "load_netflix_titles", "load_prize_ratings", "load_prize_titles", "normalise_title"]
