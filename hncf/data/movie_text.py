"""Each movie's feature text for the BERT branch of HNCF, built without leaking test labels.

The paper's "Processed Features" column joins, per movie: title, PG rating, genres,
spoken languages, description, tagline, keywords, cast, production companies,
production countries and tag names, then lowercases it, strips special characters
and drops stop words. MovieLens itself has the title (with the year), genres and
user tags; the rest comes from a TMDB/IMDb metadata CSV the user supplies
(:func:`load_movie_metadata`).

Leakage: a tag is written by a user about a movie, usually after watching it. A tag
that a held-out user put on the held-out movie says "this user watched this movie",
which is the answer being predicted. :func:`build_movie_texts` therefore takes the
raw tag rows (:func:`load_tags`) and drops the held-out pairs (``exclude_pairs``)
and tags written after the training period (``tag_cutoff``). The ``tags`` column of
``load_movielens(...).items`` aggregates every user's tags, so it is deliberately not
used here.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hncf.data.movielens import _CSV_TAGS, _read_table, parse_year
from hncf.data.schema import (
    GENRES,
    IMDB_ID,
    ITEM,
    TIMESTAMP,
    TITLE,
    TMDB_ID,
    USER,
    YEAR,
    SchemaError,
)

_log = logging.getLogger(__name__)

TAG = "tag"
TAG_COLUMNS = (USER, ITEM, TAG, TIMESTAMP)
# The text of a movie known by its id alone (rated, but not in the movies file): GroupLens' own
# word for such a movie (ml-100k item 267 is titled "unknown"), so every item has a real string.
UNKNOWN_MOVIE_TEXT = "unknown"

# Metadata fields, in the paper's order, with the column names accepted for each
# (TMDB's API and Kaggle's "The Movies Dataset" spellings included).
METADATA_FIELDS = (
    "pg_rating", "spoken_languages", "overview", "tagline", "keywords", "cast",
    "production_companies", "production_countries",
)
METADATA_ALIASES: dict[str, tuple[str, ...]] = {
    "pg_rating": ("pg_rating", "certification", "mpaa_rating"),
    "spoken_languages": ("spoken_languages",),
    "overview": ("overview", "description", "plot"),
    "tagline": ("tagline",),
    "keywords": ("keywords",),
    "cast": ("cast",),
    "production_companies": ("production_companies",),
    "production_countries": ("production_countries",),
}
# Fields holding lists ("[{'id': 16, 'name': 'Animation'}]", "['en', 'fr']" or "a|b").
_LIST_FIELDS = ("spoken_languages", "keywords", "cast", "production_companies", "production_countries")
KEY_ALIASES: dict[str, tuple[str, ...]] = {
    TMDB_ID: ("tmdb_id", "tmdbid", "id"),
    IMDB_ID: ("imdb_id", "imdbid"),
}
# The text's fields in order: the paper's, with MovieLens' year after the title.
TEXT_FIELDS = (
    "title", "pg_rating", "genres", "spoken_languages", "overview", "tagline", "keywords", "cast",
    "production_companies", "production_countries", "tags",
)

# NLTK's English stop-word list (179 words), embedded so nothing is downloaded; the
# forms without apostrophes are added because preprocessing deletes apostrophes first.
_NLTK_ENGLISH = ["i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "you're", "you've", "you'll", "you'd", "your", "yours", "yourself", "yourselves", "he", "him", "his", "himself", "she", "she's", "her", "hers", "herself", "it", "it's", "its", "itself", "they", "them", "their", "theirs", "themselves", "what", "which", "who", "whom", "this", "that", "that'll", "these", "those", "am", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does", "did", "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as", "until", "while", "of", "at", "by", "for", "with", "about", "against", "between", "into", "through", "during", "before", "after", "above", "below", "to", "from", "up", "down", "in", "out", "on", "off", "over", "under", "again", "further", "then", "once", "here", "there", "when", "where", "why", "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not", "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don", "don't", "should", "should've", "now", "d", "ll", "m", "o", "re", "ve", "y", "ain", "aren", "aren't", "couldn", "couldn't", "didn", "didn't", "doesn", "doesn't", "hadn", "hadn't", "hasn", "hasn't", "haven", "haven't", "isn", "isn't", "ma", "mightn", "mightn't", "mustn", "mustn't", "needn", "needn't", "shan", "shan't", "shouldn", "shouldn't", "wasn", "wasn't", "weren", "weren't", "won", "won't", "wouldn", "wouldn't"]
ENGLISH_STOP_WORDS = frozenset(_NLTK_ENGLISH) | frozenset(w.replace("'", "") for w in _NLTK_ENGLISH)
_STOP_RE = r"\b(?:" + "|".join(sorted(ENGLISH_STOP_WORDS, key=lambda w: (-len(w), w))) + r")\b"

# "(1995)" / "(2006-2007)" at the end of a MovieLens title.
_TITLE_YEAR_RE = r"\s*\(\d{4}(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$"
# A quoted value after a 'name' key in a JSON or Python-repr list of dicts.
_NAME_VALUE_RE = r"""['"]name['"]\s*:\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""


def load_tags(path: str | os.PathLike) -> pd.DataFrame:
    """Read a MovieLens ``tags.csv`` (userId,movieId,tag,timestamp) as ``user, item, tag, timestamp``.

    This is the layout of ml-latest-small, ml-20m and ml-25m. A wrong header or a bad
    line raises :class:`SchemaError` naming the file and line; tags keep their text
    as written (empty tags become "").
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (MovieLens tags file with columns userId,movieId,tag,timestamp)")
    raw = _read_table(path, _CSV_TAGS)
    return pd.DataFrame({
        USER: raw["userId"].to_numpy(dtype=np.int64),
        ITEM: raw["movieId"].to_numpy(dtype=np.int64),
        TAG: raw["tag"].astype(str).to_numpy(dtype=object),
        TIMESTAMP: raw["timestamp"].to_numpy(dtype=np.int64),
    })


def _key_as_int(values: pd.Series) -> pd.Series:
    """IMDb ("tt0114709", "0114709") and TMDB ids as nullable Int64; NA when not an id."""
    text = pd.Series(values, dtype=object).astype(str).str.strip().str.replace(r"^tt", "", regex=True, case=False)
    text = text.where(text.str.fullmatch(r"\d+"), None)
    return pd.to_numeric(text, errors="coerce").astype("Int64")


def _flatten_lists(s: pd.Series, max_names: int | None) -> pd.Series:
    """List-valued cells as "a, b, c": names out of lists of dicts, bare lists, or "a|b"."""
    s = s.astype(object)
    is_list = s.str.match(r"\s*\[", na=False)
    if is_list.any():
        sub = s[is_list]
        has_names = sub.str.contains(r"""['"]name['"]\s*:""", regex=True)
        names = sub.str.findall(_NAME_VALUE_RE)
        if max_names is not None:
            names = names.str[:max_names]
        # \x1f separates the quoted names so their outer quotes can be cut in one pass.
        joined = (names.str.join("\x1f")
                  .str.replace(r"""(?:^|(?<=\x1f))['"]|['"](?=\x1f|$)""", "", regex=True)
                  .str.replace(r"""\\(['"\\])""", r"\1", regex=True)
                  .str.replace("\x1f", ", ", regex=False))
        bare = (sub.str.replace(r"^\s*\[|\]\s*$", "", regex=True)
                .str.replace(r"""['"]""", "", regex=True).str.strip())
        if max_names is not None:
            bare = bare.str.split(r"\s*,\s*", regex=True).str[:max_names].str.join(", ")
        s = s.where(~is_list, joined.where(has_names, bare))
    return s.str.replace("|", ", ", regex=False).str.strip()


def _read_metadata_file(path: Path, key: str, max_names: int | None) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (movie metadata CSV)")
    try:
        header = pd.read_csv(path, nrows=0).columns.tolist()
    except (ValueError, pd.errors.ParserError) as e:
        raise SchemaError(f"{path}: cannot read the header line as CSV: {e}") from e
    by_lower = {c.lower(): c for c in header}
    key_col = next((by_lower[a] for a in KEY_ALIASES[key] if a in by_lower), None)
    if key_col is None:
        raise SchemaError(
            f"{path}: no {key} column; expected one of {list(KEY_ALIASES[key])} (any case), found {header}"
        )
    fields = {}
    for name in METADATA_FIELDS:
        col = next((by_lower[a] for a in METADATA_ALIASES[name] if a in by_lower), None)
        if col is not None and col != key_col:
            fields[name] = col
    if not fields:
        expected = sorted({a for aliases in METADATA_ALIASES.values() for a in aliases})
        raise SchemaError(
            f"{path}: none of the expected metadata columns {expected} (any case); found {header}"
        )
    try:
        raw = pd.read_csv(path, usecols=[key_col, *fields.values()], dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as e:
        raise SchemaError(f"{path}: cannot parse as CSV: {e}") from e
    keys = _key_as_int(raw[key_col])
    bad = keys.isna().to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(f"data row {r + 1} ({key_col}={raw[key_col].iloc[r]!r})" for r in rows[:3])
        warnings.warn(
            f"{path}: skipped {len(rows)} row(s) whose {key_col} is not an id, e.g. {shown}",
            stacklevel=3,
        )
    out = pd.DataFrame(index=pd.Index(keys[~bad].to_numpy(), name=key, dtype="Int64"))
    for name, col in fields.items():
        values = raw[col][~bad].fillna("")
        values = _flatten_lists(values, max_names) if name in _LIST_FIELDS else values.astype(object).str.strip()
        out[name] = values.to_numpy(dtype=object)
    return out[~out.index.duplicated(keep="first")]


def load_movie_metadata(path: str | os.PathLike | Sequence[str | os.PathLike], key: str = TMDB_ID,
                        max_names: int | None = None) -> pd.DataFrame:
    """Read TMDB/IMDb movie metadata into a frame indexed by ``key`` (Int64), one column per field.

    Columns are recognised by name (any case) among :data:`METADATA_ALIASES`
    (``certification`` counts as ``pg_rating``, ``description`` as ``overview``), the key
    among :data:`KEY_ALIASES` (``id`` is TMDB's id, IMDb ids may carry ``tt``). List
    cells, such as TMDB's ``[{'id': 16, 'name': 'Animation'}]``, become "Animation, ...";
    ``max_names`` keeps the first few names of each list (long casts push later fields
    past BERT's sequence length). Several paths (e.g. Kaggle's movies_metadata.csv,
    keywords.csv and credits.csv) are joined on the key, the first file winning where
    two have the same field. Rows whose key is not an id are skipped with a warning;
    repeated keys keep their first row.
    """
    if key not in KEY_ALIASES:
        raise ValueError(f"unknown metadata key {key!r}; expected one of {tuple(KEY_ALIASES)}")
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths:
        raise ValueError("load_movie_metadata needs at least one path")
    frames = [_read_metadata_file(Path(p).expanduser(), key, max_names) for p in paths]
    out = frames[0]
    for frame in frames[1:]:
        out = out.combine_first(frame)
    out = out.fillna("")
    return out[[f for f in METADATA_FIELDS if f in out.columns]]


def training_tag_cutoff(train: pd.DataFrame) -> pd.Series:
    """Per-user cutoff for ``tag_cutoff``: the time of each user's last training interaction."""
    missing = [c for c in (USER, TIMESTAMP) if c not in train.columns]
    if missing:
        raise SchemaError(f"training interactions: missing column(s) {missing}; found {list(train.columns)}")
    return train.groupby(USER)[TIMESTAMP].max()


def filter_tags(tags: pd.DataFrame, exclude_pairs: pd.DataFrame | None = None,
                tag_cutoff=None) -> pd.DataFrame:
    """Tag rows a model may see: without held-out (user, item) pairs and not after the cutoff.

    ``tag_cutoff`` is one timestamp for everyone or a per-user Series (or dict) of
    timestamps (see :func:`training_tag_cutoff`); tags of users absent from it are
    dropped, since nothing of theirs is in training. Ids are raw dataset ids.
    """
    missing = [c for c in TAG_COLUMNS if c not in tags.columns]
    if missing:
        raise SchemaError(f"tags: missing column(s) {missing}; expected {list(TAG_COLUMNS)}, found {list(tags.columns)}")
    keep = np.ones(len(tags), dtype=bool)
    if exclude_pairs is not None:
        missing = [c for c in (USER, ITEM) if c not in exclude_pairs.columns]
        if missing:
            raise SchemaError(
                f"exclude_pairs: missing column(s) {missing}; expected (user, item) pairs, found "
                f"{list(exclude_pairs.columns)}"
            )
        held_out = pd.MultiIndex.from_frame(exclude_pairs[[USER, ITEM]])
        keep &= ~pd.MultiIndex.from_frame(tags[[USER, ITEM]]).isin(held_out)
    if tag_cutoff is not None:
        ts = tags[TIMESTAMP].to_numpy()
        if isinstance(tag_cutoff, (pd.Series, Mapping)):
            cut = tags[USER].map(pd.Series(tag_cutoff)).to_numpy(dtype=np.float64)
            keep &= ~np.isnan(cut) & (ts <= cut)
        else:
            keep &= ts <= tag_cutoff
    return tags[keep]


def _tags_text(tags: pd.DataFrame) -> pd.Series:
    """item -> "tag one, tag two": distinct tags (case-insensitively) in order of first use."""
    text = tags[TAG].astype(object).str.strip()
    t = pd.DataFrame({ITEM: tags[ITEM].to_numpy(), TAG: text.to_numpy(), TIMESTAMP: tags[TIMESTAMP].to_numpy()})
    t = t[t[TAG] != ""]
    t = t.assign(_k=t[TAG].str.lower()).sort_values(TIMESTAMP, kind="stable")
    t = t.drop_duplicates([ITEM, "_k"])
    return t.groupby(ITEM, sort=False)[TAG].agg(", ".join)


def preprocess_text(texts) -> pd.Series:
    """The paper's text cleaning: lowercase, strip special characters, drop English stop words.

    Apostrophes are deleted ("children's" -> "childrens"), every other character that
    is not a letter or digit becomes a space, stop words (:data:`ENGLISH_STOP_WORDS`,
    NLTK's list) are removed and whitespace is collapsed. Letters with accents are
    kept. Returns a Series (with the input's index when given one).
    """
    s = texts if isinstance(texts, pd.Series) else pd.Series(list(texts) if not isinstance(texts, str) else [texts])
    s = s.astype(object).where(s.notna(), "").astype(str).str.lower()
    s = s.str.replace(r"['\u2019`\u00b4]", "", regex=True)
    s = s.str.replace(r"[^\w\s]|_", " ", regex=True)
    s = s.str.replace(_STOP_RE, " ", regex=True)
    return s.str.replace(r"\s+", " ", regex=True).str.strip()


def _title_part(items: pd.DataFrame) -> pd.Series:
    """"The Matrix (1999)": MovieLens' trailing article moved to the front, the year from YEAR."""
    title = items[TITLE].astype(object).where(items[TITLE].notna(), "").astype(str).str.strip()
    year = items[YEAR] if YEAR in items.columns else parse_year(title)
    title = title.str.replace(_TITLE_YEAR_RE, "", regex=True)
    title = title.str.replace(r"^(.*?), (The|A|An)$", r"\2 \1", regex=True)
    year = pd.Series(year.to_numpy(), index=title.index).astype("Int64")
    year_text = (" (" + year.astype(str) + ")").where(year.notna(), "")
    return (title + year_text).str.strip()


def build_movie_texts(items: pd.DataFrame, tags: pd.DataFrame | None = None,
                      metadata: pd.DataFrame | None = None, exclude_pairs: pd.DataFrame | None = None,
                      tag_cutoff=None, preprocess: bool = True, item_ids=None) -> pd.Series:
    """Each movie's feature text, a Series indexed by raw item id (items' order).

    Fields in the paper's order (:data:`TEXT_FIELDS`): title (with year), PG rating,
    genres, spoken languages, overview, tagline, keywords, cast, production companies,
    production countries, user tags; fields a movie lacks are left out and the rest
    joined with ". ". ``metadata`` comes from :func:`load_movie_metadata` and is joined
    through the items' ``tmdb_id`` or ``imdb_id`` column (its index name says which).
    ``tags`` are raw tag rows (:func:`load_tags`); ``exclude_pairs`` and ``tag_cutoff``
    keep held-out interactions out of them (see :func:`filter_tags`). With
    ``preprocess`` the text goes through :func:`preprocess_text`.

    ``item_ids`` (raw ids) gives the result's ids and order; ids that ``items`` lacks are
    built as movies with an empty title. A movie with nothing at all (no title, genres,
    metadata or tags: a rating whose movie the movies file does not list) gets
    :data:`UNKNOWN_MOVIE_TEXT`, with a warning naming a few; every text is a ``str``. A
    movie that has a title but whose text comes out empty (stop words only) raises
    ``ValueError`` naming it.
    """
    missing = [c for c in (ITEM, TITLE) if c not in items.columns]
    if missing:
        raise SchemaError(f"items: missing column(s) {missing}; found {list(items.columns)}")
    dup = items[ITEM].duplicated()
    if dup.any():
        raise SchemaError(
            f"items: item id(s) {items[ITEM][dup].unique()[:5].tolist()} appear more than once"
        )
    if tags is None and (exclude_pairs is not None or tag_cutoff is not None):
        raise ValueError(
            "exclude_pairs/tag_cutoff filter tag rows, but tags=None; pass the raw tag rows "
            "(load_tags(<release>/tags.csv)) so held-out tags can be removed"
        )
    items = items.reset_index(drop=True)
    if item_ids is not None:
        wanted = pd.Index(np.asarray(item_ids).ravel())
        if wanted.has_duplicates:
            raise ValueError(f"item_ids repeat id(s) {wanted[wanted.duplicated()].unique()[:5].tolist()}")
        absent = wanted[~wanted.isin(items[ITEM])]
        if len(absent):
            items = pd.concat([items, pd.DataFrame({ITEM: absent.to_numpy(), TITLE: ""})], ignore_index=True)
        items = items.set_index(ITEM, drop=False).loc[wanted].reset_index(drop=True)
    parts: dict[str, pd.Series] = {"title": _title_part(items)}
    if GENRES in items.columns:
        parts["genres"] = items[GENRES].astype(object).where(items[GENRES].notna(), "").astype(str) \
            .str.replace("|", ", ", regex=False)
    if metadata is not None:
        key = metadata.index.name
        if key not in KEY_ALIASES:
            raise ValueError(
                f"metadata must be indexed by {TMDB_ID!r} or {IMDB_ID!r} (as load_movie_metadata returns), "
                f"got index name {key!r}"
            )
        if key not in items.columns:
            raise SchemaError(
                f"items: no {key!r} column to join the metadata on; found {list(items.columns)} "
                f"(csv MovieLens releases get it from links.csv)"
            )
        joined = metadata.reindex(_key_as_int(items[key]).to_numpy())
        for name in METADATA_FIELDS:
            if name in joined.columns:
                parts[name] = pd.Series(joined[name].to_numpy(dtype=object), index=items.index).fillna("")
    if tags is not None:
        per_item = _tags_text(filter_tags(tags, exclude_pairs, tag_cutoff))
        parts["tags"] = items[ITEM].map(per_item).fillna("")

    text = pd.Series("", index=items.index, dtype=object)
    for name in TEXT_FIELDS:
        if name not in parts:
            continue
        part = parts[name].astype(object).astype(str).str.strip()
        both = (text != "").to_numpy() & (part != "").to_numpy()
        # A field that already ends a sentence ("Toys come alive.") needs only a space.
        ended = text.str.contains(r"[.!?]$", regex=True).to_numpy()
        sep = pd.Series(np.where(both, np.where(ended, " ", ". "), ""), index=items.index)
        text = text + sep + part
    nothing = (text.str.strip() == "").to_numpy()
    if nothing.any():
        ids = items[ITEM].to_numpy()[nothing]
        _log.warning("hncf: warning: %d movie(s) have no title, genres, metadata or tags, e.g. item id(s) %s; "
                     "their text is %r", int(nothing.sum()), ids[:5].tolist(), UNKNOWN_MOVIE_TEXT)
        text = text.where(~nothing, UNKNOWN_MOVIE_TEXT)
    if preprocess:
        text = preprocess_text(text)
    empty = (text.str.len() == 0).to_numpy()
    if empty.any():
        ids = items[ITEM].to_numpy()[empty]
        raise ValueError(
            f"{int(empty.sum())} movie(s) have empty feature text, e.g. item id(s) {ids[:5].tolist()}: "
            f"no title, genres, metadata or tags survive"
            + (" preprocessing (stop words and special characters removed)" if preprocess else "")
        )
    return pd.Series(text.to_numpy(dtype=object), index=pd.Index(items[ITEM].to_numpy(), name=ITEM), name="text")


__all__ = [
    "ENGLISH_STOP_WORDS", "KEY_ALIASES", "METADATA_ALIASES", "METADATA_FIELDS", "TAG", "TAG_COLUMNS",
    "TEXT_FIELDS", "UNKNOWN_MOVIE_TEXT", "build_movie_texts", "filter_tags", "load_movie_metadata", "load_tags",
    "preprocess_text", "training_tag_cutoff",
]
