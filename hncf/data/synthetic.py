"""Small synthetic MovieLens releases in the real on-disk formats.

Tests and examples use them instead of the real data: same files, separators,
encodings, quoting and headers as the GroupLens zips, with a low-rank latent
structure and a popularity skew so that a recommender has something to learn.
Everything is deterministic per seed.
"""

from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from hncf.data.schema import ITEM, RATING, TIMESTAMP, USER

SYNTHETIC_FORMATS = ("ml-100k", "ml-1m", "ml-latest-small", "ml-20m", "ml-25m")
CSV_FORMATS = ("ml-latest-small", "ml-20m", "ml-25m")

# u.genre of ml-100k, in file order; ml-1m uses the same names without "unknown".
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
CSV_GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)
_TAG_WORDS = ("funny", "dark", "atmospheric", "twist ending", "classic", "visually appealing",
              "Oscar (Best Picture)", "slow", "quirky", "based on a book")
_BASE_TIME = 874_724_710  # September 1997, when ml-100k starts


def _check_sizes(n_users: int, n_items: int, n_ratings: int, min_per_user: int) -> None:
    if n_users < 1 or n_items < min_per_user:
        raise ValueError(f"need n_users >= 1 and n_items >= {min_per_user}; got {n_users}, {n_items}")
    if not n_users * min_per_user <= n_ratings <= n_users * n_items:
        raise ValueError(
            f"n_ratings={n_ratings} must lie in [{n_users * min_per_user}, {n_users * n_items}] "
            f"({min_per_user} to {n_items} ratings for each of {n_users} users)"
        )


def _user_counts(rng: np.random.Generator, n_users: int, n_items: int, n_ratings: int,
                 min_per_user: int) -> np.ndarray:
    """Ratings per user: at least ``min_per_user``, long-tailed, capped at ``n_items``."""
    activity = rng.lognormal(0.0, 0.8, n_users)
    counts = min_per_user + rng.multinomial(n_ratings - n_users * min_per_user, activity / activity.sum())
    # Users over the cap hand their surplus to the others; a few passes at most.
    while (over := counts - n_items).max() > 0:
        surplus = int(over[over > 0].sum())
        counts = np.minimum(counts, n_items)
        room = (n_items - counts).astype(float)
        counts += rng.multinomial(surplus, room / room.sum())
    return counts


def _model(n_users: int, n_items: int, seed: int, rank: int):
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(n_users, rank))
    V = rng.normal(size=(n_items, rank))
    # Zipf-like popularity over a random item order, so popular items are not just low ids.
    popularity = 1.0 / (1.0 + rng.permutation(n_items)) ** 0.8
    return rng, U, V, popularity


def synthetic_interactions(n_users: int = 30, n_items: int = 40, n_ratings: int = 600,
                           seed: int = 0, *, rank: int = 4, min_per_user: int = 5,
                           half_stars: bool = False) -> pd.DataFrame:
    """Interactions in the schema (users ``1..n_users``, items ``1..n_items``).

    Each user picks distinct items with probability rising with both the
    latent affinity ``u.v`` and the item's popularity; the rating grows with
    the affinity. Every user has at least ``min_per_user`` ratings; some share
    a timestamp, as in the real data. Sorted by user, then time.
    """
    _check_sizes(n_users, n_items, n_ratings, min_per_user)
    rng, U, V, popularity = _model(n_users, n_items, seed, rank)
    counts = _user_counts(rng, n_users, n_items, n_ratings, min_per_user)

    affinity = U @ V.T / np.sqrt(rank)
    gumbel = -np.log(-np.log(rng.random((n_users, n_items))))
    # Gumbel top-k: the first counts[u] items of this order are a weighted sample without replacement.
    order = np.argsort(-(affinity + np.log(popularity) + gumbel), axis=1, kind="stable")
    rows = np.repeat(np.arange(n_users), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    cols = order[rows, np.arange(len(rows)) - starts]

    score = affinity[rows, cols] + rng.normal(0.0, 0.3, len(rows))
    score = (score - score.mean()) / (score.std() + 1e-12)
    if half_stars:
        rating = np.clip(np.round((3.5 + 1.1 * score) * 2) / 2, 0.5, 5.0)
    else:
        rating = np.clip(np.round(3.5 + 1.1 * score), 1, 5)

    # Each user's ratings spread over a few months in random item order; a zero
    # gap now and then makes equal timestamps, which the splitters must handle.
    gaps = rng.integers(60, 5 * 86_400, len(rows)) * (rng.random(len(rows)) > 0.1)
    first = np.cumsum(counts) - counts
    cum = np.cumsum(gaps)
    within_user = cum - np.repeat(cum[first] - gaps[first], counts)
    user_start = _BASE_TIME + rng.integers(0, 200 * 86_400, n_users)
    # rows are grouped by user; a random permutation inside each group decides
    # which item gets which time, so time order is independent of the item draw.
    perm = rng.permutation(len(rows))
    perm = perm[np.argsort(rows[perm], kind="stable")]
    timestamp = np.empty(len(rows), dtype=np.int64)
    timestamp[perm] = user_start[rows] + within_user

    df = pd.DataFrame({
        USER: rows.astype(np.int64) + 1,
        ITEM: cols.astype(np.int64) + 1,
        RATING: rating.astype(np.float32),
        TIMESTAMP: timestamp,
    })
    return df.sort_values([USER, TIMESTAMP], kind="stable").reset_index(drop=True)


def _item_metadata(n_items: int, seed: int, genres: tuple[str, ...], rank: int = 4) -> pd.DataFrame:
    """Titles, years and genre lists; genres follow the latent factors so they carry signal."""
    rng, _, V, _ = _model(1, n_items, seed, rank)
    meta_rng = np.random.default_rng([seed, 1])
    years = meta_rng.integers(1930, 2018, n_items)
    titles = [f"Synthetic Movie {i + 1} ({y})" for i, y in enumerate(years)]
    # Real-data quirks: an English article moved behind a comma (csv quoting), a
    # title without a year, a non-ASCII title (latin-1 vs utf-8) and trailing blanks.
    titles[0] = f"Movie, The ({years[0]})"
    if n_items > 1:
        titles[1] = "Synthetic Series"
    if n_items > 3:
        titles[3] = f"Amélie ({years[3]})"
    g = [x for x in genres if x != "unknown"]
    scores = V @ np.random.default_rng([seed, 2]).normal(size=(rank, len(g)))
    top = np.argsort(-scores, axis=1)[:, :3]
    n_genres = meta_rng.integers(1, 4, n_items)
    genre_lists = ["|".join(sorted((g[j] for j in top[i, : n_genres[i]]), key=g.index)) for i in range(n_items)]
    return pd.DataFrame({"n": np.arange(1, n_items + 1), "title": titles,
                         "year": pd.array([None if i == 1 else y for i, y in enumerate(years)], dtype="Int64"),
                         "genres": genre_lists})


def _write_lines(path: Path, lines, encoding: str) -> None:
    with open(path, "w", encoding=encoding, newline="\n") as f:
        f.writelines(line + "\n" for line in lines)


def _write_100k(d: Path, inter: pd.DataFrame, meta: pd.DataFrame, rng) -> list[str]:
    shuffled = inter.iloc[rng.permutation(len(inter))]  # u.data is in no particular order
    _write_lines(d / "u.data", (f"{u}\t{i}\t{int(r)}\t{t}" for u, i, r, t in shuffled.itertuples(index=False)), "ascii")
    _write_lines(d / "u.genre", [f"{g}|{k}" for k, g in enumerate(ML100K_GENRES)] + [""], "latin-1")
    lines = []
    for n, title, year, genres in meta.itertuples(index=False):
        flags = ["1" if g in genres.split("|") else "0" for g in ML100K_GENRES]
        if n == 2:  # no year anywhere, like item 267 "unknown"
            date = ""
        else:
            date = f"01-Jan-{year}"
        if n == 3:  # title cut before its year, like item 1412; the date still has it
            title = title.rsplit(" (", 1)[0][:40]
        url = "http://us.imdb.com/M/title-exact?" + title.replace(" ", "%20")
        lines.append("|".join([str(n), title, date, "", url, *flags]))
    _write_lines(d / "u.item", lines, "latin-1")
    return ["u.data", "u.item", "u.genre"]


def _write_1m(d: Path, inter: pd.DataFrame, meta: pd.DataFrame) -> list[str]:
    by_user = inter.sort_values([USER, ITEM], kind="stable")
    _write_lines(d / "ratings.dat", (f"{u}::{i}::{int(r)}::{t}" for u, i, r, t in by_user.itertuples(index=False)), "latin-1")
    _write_lines(d / "movies.dat", (f"{n}::{title}::{genres}" for n, title, _, genres in meta.itertuples(index=False)), "latin-1")
    return ["ratings.dat", "movies.dat"]


def _write_csv(path: Path, header, rows) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _write_csv_release(d: Path, inter: pd.DataFrame, meta: pd.DataFrame, seed: int) -> list[str]:
    rng = np.random.default_rng([seed, 3])
    n_items = len(meta)
    # movieIds in the csv releases have gaps; so do these.
    movie_ids = np.cumsum(rng.integers(1, 4, n_items))
    movie_ids -= movie_ids[0] - 1
    inter = inter.assign(**{ITEM: movie_ids[inter[ITEM].to_numpy() - 1]}).sort_values([USER, ITEM], kind="stable")
    _write_csv(d / "ratings.csv", ["userId", "movieId", "rating", "timestamp"],
               ((u, i, f"{r:.1f}", t) for u, i, r, t in inter.itertuples(index=False)))

    genres = meta["genres"].tolist()
    genres[-1] = "(no genres listed)"
    titles = meta["title"].tolist()
    if n_items > 4:
        titles[4] = titles[4] + " "  # ml-latest-small has titles with a trailing blank
    _write_csv(d / "movies.csv", ["movieId", "title", "genres"], zip(movie_ids, titles, genres))

    n_tags = max(len(inter) // 10, 4)
    sample = inter.iloc[rng.choice(len(inter), n_tags, replace=True)]
    words = np.array(_TAG_WORDS + ("funny, dark",), dtype=object)  # a tag that needs quoting
    tags = words[rng.integers(0, len(words), n_tags)]
    _write_csv(d / "tags.csv", ["userId", "movieId", "tag", "timestamp"],
               ((u, i, tag, t + 7) for (u, i, _, t), tag in zip(sample.itertuples(index=False), tags)))

    tmdb = [str(5000 + 3 * k) for k in range(n_items)]
    tmdb[1 % n_items] = ""  # links.csv leaves some tmdbIds empty
    _write_csv(d / "links.csv", ["movieId", "imdbId", "tmdbId"],
               ((m, f"{100_000 + 7 * k:07d}", tmdb[k]) for k, m in enumerate(movie_ids)))
    return ["ratings.csv", "movies.csv", "tags.csv", "links.csv"]


def _write_zip(zip_path: Path, directory: Path, top: str, files: list[str]) -> None:
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = zip_path.with_name(f".{zip_path.name}.part")
    # A fixed timestamp makes the zip (and so its checksum) identical for the same seed.
    stamp = (2000, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo(f"{top}/", date_time=stamp), b"")
        for name in files:
            info = zipfile.ZipInfo(f"{top}/{name}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, (directory / name).read_bytes())
    os.replace(tmp, zip_path)


def write_synthetic_movielens(directory: str | os.PathLike, fmt: str, n_users: int = 30,
                              n_items: int = 40, n_ratings: int = 600, seed: int = 0,
                              zip_path: str | os.PathLike | None = None) -> Path:
    """Write a small release ``fmt`` (one of :data:`SYNTHETIC_FORMATS`) into ``directory``.

    Files, separators, encodings and headers are those of the GroupLens
    release (``u.data``/``u.item``/``u.genre``; ``ratings.dat``/``movies.dat``;
    ``ratings.csv``/``movies.csv``/``tags.csv``/``links.csv``). With
    ``zip_path`` a zip in the GroupLens layout (one top folder named ``fmt``)
    is written too. Returns ``directory``.
    """
    if fmt not in SYNTHETIC_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(SYNTHETIC_FORMATS)}")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    csv_layout = fmt in CSV_FORMATS
    inter = synthetic_interactions(n_users, n_items, n_ratings, seed, half_stars=csv_layout)
    meta = _item_metadata(n_items, seed, CSV_GENRES if csv_layout else ML100K_GENRES)
    if fmt == "ml-100k":
        files = _write_100k(d, inter, meta, np.random.default_rng([seed, 4]))
    elif fmt == "ml-1m":
        files = _write_1m(d, inter, meta)
    else:
        files = _write_csv_release(d, inter, meta, seed)
    if zip_path is not None:
        _write_zip(Path(zip_path), d, fmt, files)
    return d
