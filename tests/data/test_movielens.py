import numpy as np
import pandas as pd
import pytest

from hncf.data.movielens import (
    load_interactions_csv,
    load_movielens,
    parse_year,
    read_movielens_dir,
)
from hncf.data.schema import SchemaError
from hncf.data.splits import chrono_ratio_split, filter_to_train
from hncf.data.synthetic import (
    SYNTHETIC_FORMATS,
    synthetic_interactions,
    write_synthetic_movielens,
)

CSV_FORMATS = ("ml-latest-small", "ml-20m", "ml-25m")


# ---------------------------------------------------------------------------
# Every loader on every format (files written by the synthetic writer)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", SYNTHETIC_FORMATS)
def test_loader_reads_real_format(fmt, synthetic_release):
    d = synthetic_release(fmt)
    data = load_movielens(fmt, data_dir=d)
    inter, items = data.interactions, data.items
    assert data.name == fmt and data.source == d
    assert list(inter.columns) == ["user", "item", "rating", "timestamp"]
    assert inter.dtypes.astype(str).tolist() == ["int64", "int64", "float32", "int64"]
    assert len(inter) == 600 and data.n_users == 30
    assert inter.groupby("user").size().min() >= 5

    # Same interactions as the in-memory generator, up to row order and item ids.
    expected = synthetic_interactions(half_stars=fmt in CSV_FORMATS)
    movie_ids = items["item"].to_numpy()  # item k of the generator is the k-th movie
    expected["item"] = movie_ids[expected["item"].to_numpy() - 1]
    key = ["user", "item"]
    got = inter.sort_values(key).reset_index(drop=True)
    want = expected.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)

    assert items["item"].dtype == np.int64 and items["item"].is_unique
    assert str(items["year"].dtype) == "Int64"
    by_pos = items.reset_index(drop=True)
    assert by_pos.loc[0, "title"].startswith("Movie, The (")  # comma inside a title
    assert by_pos.loc[3, "title"].startswith("Amélie (")  # latin-1 or utf-8 decoded right
    assert pd.isna(by_pos.loc[1, "year"])  # "Synthetic Series" has no year
    assert by_pos.loc[0, "year"] == int(by_pos.loc[0, "title"][-5:-1])
    assert not items["title"].str.endswith(" ").any()
    if fmt in CSV_FORMATS:
        assert {"tags", "imdb_id", "tmdb_id"} <= set(items.columns)
        assert by_pos.loc[len(items) - 1, "genres"] == ""  # "(no genres listed)"
        assert items["genres"].iloc[:-1].str.len().gt(0).all()
        assert items["tags"].str.len().gt(0).any()
        assert items["tags"].str.contains("funny, dark", regex=False).any()
        assert items["imdb_id"].str.fullmatch(r"\d{7}").all()
        assert str(items["tmdb_id"].dtype) == "Int64" and items["tmdb_id"].isna().sum() == 1
    else:
        assert set(items.columns) == {"item", "title", "year", "genres"}
        assert items["genres"].str.len().gt(0).all()


def test_ml100k_year_falls_back_to_release_date(synthetic_release):
    items = load_movielens("ml-100k", data_dir=synthetic_release("ml-100k")).items.set_index("item")
    assert items.loc[3, "title"] == "Synthetic Movie 3"  # title cut before the year
    assert items.loc[3, "year"] == int(
        (synthetic_release("ml-100k") / "u.item").read_text(encoding="latin-1").splitlines()[2].split("|")[2][-4:]
    )


def test_ml100k_genres_use_u_genre_names(synthetic_release):
    d = synthetic_release("ml-100k")
    items = load_movielens("ml-100k", data_dir=d).items
    first = (d / "u.item").read_text(encoding="latin-1").splitlines()[0].split("|")
    names = [line.split("|")[0] for line in (d / "u.genre").read_text().splitlines() if line]
    flagged = [g for g, f in zip(names, first[5:]) if f == "1"]
    assert items.loc[0, "genres"] == "|".join(flagged)


def test_tags_are_distinct_per_movie(synthetic_release):
    d = synthetic_release("ml-latest-small")
    tags = pd.read_csv(d / "tags.csv")
    items = load_movielens("ml-latest-small", data_dir=d).items.set_index("item")
    for movie, group in tags.groupby("movieId"):
        assert items.loc[movie, "tags"].split("|") == list(dict.fromkeys(group["tag"]))


def test_synthetic_is_deterministic_per_seed(tmp_path):
    a = write_synthetic_movielens(tmp_path / "a", "ml-1m", seed=3, zip_path=tmp_path / "a.zip")
    b = write_synthetic_movielens(tmp_path / "b", "ml-1m", seed=3, zip_path=tmp_path / "b.zip")
    c = write_synthetic_movielens(tmp_path / "c", "ml-1m", seed=4)
    assert (a / "ratings.dat").read_bytes() == (b / "ratings.dat").read_bytes()
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert (a / "ratings.dat").read_bytes() != (c / "ratings.dat").read_bytes()


def test_synthetic_has_popularity_skew_and_latent_signal():
    df = synthetic_interactions(n_users=200, n_items=100, n_ratings=6000, seed=1)
    counts = df["item"].value_counts()
    assert counts.iloc[:10].sum() > 2.5 * counts.iloc[-10:].sum()
    assert df.groupby("user").size().min() >= 5
    assert not df.duplicated(["user", "item"]).any()
    # A rank-4 SVD of the user x item rating matrix explains far more than noise would.
    m = np.zeros((200, 100))
    m[df["user"] - 1, df["item"] - 1] = df["rating"] - df["rating"].mean()
    s = np.linalg.svd(m, compute_uv=False)
    shuffled = np.random.default_rng(0).permuted(m.ravel()).reshape(m.shape)
    s0 = np.linalg.svd(shuffled, compute_uv=False)
    assert (s[:4] ** 2).sum() / (s ** 2).sum() > 1.3 * (s0[:4] ** 2).sum() / (s0 ** 2).sum()


def test_synthetic_rejects_impossible_sizes():
    with pytest.raises(ValueError, match="n_ratings=10"):
        synthetic_interactions(n_users=5, n_items=10, n_ratings=10)
    with pytest.raises(ValueError, match="unknown format"):
        write_synthetic_movielens("/nonexistent", "ml-10m")


# ---------------------------------------------------------------------------
# Where the data comes from
# ---------------------------------------------------------------------------


def test_data_dir_may_be_the_parent_folder(synthetic_release):
    d = synthetic_release("ml-1m")
    assert len(load_movielens("ml-1m", data_dir=d.parent).interactions) == 600


def test_env_data_dir(synthetic_release, monkeypatch):
    d = synthetic_release("ml-25m")
    monkeypatch.setenv("HNCF_DATA_DIR", str(d.parent))
    assert load_movielens("ml-25m", download=False).source == d


def test_no_local_copy_and_no_download(monkeypatch, tmp_path):
    monkeypatch.setenv("HNCF_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="data_dir=.*--data-dir.*ml-1m.zip"):
        load_movielens("ml-1m", download=False)


def test_unknown_dataset_lists_known_names():
    with pytest.raises(ValueError, match="unknown MovieLens dataset 'ml-10m'.*ml-100k, ml-1m, ml-20m, ml-25m, ml-latest-small"):
        load_movielens("ml-10m", data_dir=".")


def test_missing_file_names_path_and_suggests_data_dir(synthetic_release):
    d = synthetic_release("ml-100k")
    (d / "u.item").unlink()
    with pytest.raises(FileNotFoundError) as err:
        load_movielens("ml-100k", data_dir=d)
    msg = str(err.value)
    assert str(d / "u.item") in msg and "--data-dir" in msg and "ml-100k.zip" in msg


# ---------------------------------------------------------------------------
# Bad input: file name, 1-based line number and the line itself
# ---------------------------------------------------------------------------


def _replace_line(path, lineno, text, encoding="utf-8"):
    lines = path.read_text(encoding=encoding).splitlines()
    lines[lineno - 1] = text
    path.write_text("\n".join(lines) + "\n", encoding=encoding)


@pytest.mark.parametrize(
    "fmt, fname, lineno, bad, problem",
    [
        ("ml-100k", "u.data", 7, "1\t2\t3\t881250949\t9", "expected 4 fields"),
        ("ml-100k", "u.data", 1, "1\t2\t3\t881250949\t9", "expected 4 fields"),
        ("ml-100k", "u.data", 12, "1\t2\t3", "expected 4 fields"),
        ("ml-100k", "u.data", 5, "x1\t2\t3\t881250949", "user: 'x1' is not an integer"),
        ("ml-100k", "u.data", 9, "1\t2\tfive\t881250949", "rating: 'five' is not a number"),
        ("ml-100k", "u.data", 9, "1\t2\tnan\t881250949", "rating: 'nan' is not a finite number"),
        ("ml-100k", "u.item", 4, "4|Broken (1995)|01-Jan-1995", "expected 24 fields"),
        ("ml-1m", "ratings.dat", 20, "3::4::5", "expected 4 fields"),
        ("ml-1m", "ratings.dat", 21, "3::4.5::5::978300760", "item: '4.5' is not an integer"),
        ("ml-1m", "movies.dat", 2, "2::::Drama", "title: empty value"),
        ("ml-latest-small", "ratings.csv", 4, "1,5,,964982703", "rating: '' is not a number"),
        ("ml-latest-small", "ratings.csv", 6, "1,5,NaN,964982703", "rating: 'NaN' is not a finite number"),
        ("ml-20m", "ratings.csv", 30, "1,5,4.0,964982703,extra", "expected 4 fields"),
        ("ml-25m", "movies.csv", 3, "x,Foo (1999),Drama", "movieId: 'x' is not an integer"),
        ("ml-25m", "links.csv", 2, "1,0114709,abc", "tmdbId: 'abc' is not an integer"),
    ],
)
def test_malformed_line_is_reported(fmt, fname, lineno, bad, problem, synthetic_release):
    d = synthetic_release(fmt)
    encoding = "latin-1" if fname in ("u.item", "movies.dat") else "utf-8"
    _replace_line(d / fname, lineno, bad, encoding)
    with pytest.raises(SchemaError) as err:
        load_movielens(fmt, data_dir=d)
    msg = str(err.value)
    assert str(d / fname) in msg
    assert f"line {lineno}:" in msg
    assert problem in msg
    assert repr(bad) in msg


def test_bad_genre_flag(synthetic_release):
    d = synthetic_release("ml-100k")
    line = (d / "u.item").read_text(encoding="latin-1").splitlines()[1].split("|")
    line[7] = "2"
    _replace_line(d / "u.item", 2, "|".join(line), "latin-1")
    with pytest.raises(SchemaError, match=r"u\.item, line 2: genre flags must be 0 or 1"):
        load_movielens("ml-100k", data_dir=d)


@pytest.mark.parametrize("fname", ["ratings.csv", "movies.csv", "tags.csv", "links.csv"])
def test_wrong_csv_columns(fname, synthetic_release):
    d = synthetic_release("ml-latest-small")
    header = (d / fname).read_text().splitlines()[0].split(",")
    wrong = ["user_id"] + header[1:]
    _replace_line(d / fname, 1, ",".join(wrong))
    with pytest.raises(SchemaError) as err:
        load_movielens("ml-latest-small", data_dir=d)
    msg = str(err.value)
    assert str(d / fname) in msg and f"expected {header}" in msg and f"found {wrong}" in msg


def test_parse_year():
    titles = pd.Series(["Toy Story (1995)", "Babylon 5", "Death Note: Desu nôto (2006–2007)",
                        "Runaway Brain (1995) ", "Cosmos (1980-)", "2001 (film)", "Leon (1994) (V)"])
    assert parse_year(titles).tolist() == [1995, pd.NA, 2006, 1995, 1980, pd.NA, pd.NA]


# ---------------------------------------------------------------------------
# A user's own file
# ---------------------------------------------------------------------------


def test_load_interactions_csv_maps_columns(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("reviewerID,asin,overall,unixReviewTime,extra\nA1,B01,5.0,100,x\nA2,B02,3,200,y\nA1,B02,4,150,\n")
    df = load_interactions_csv(p, user_col="reviewerID", item_col="asin", rating_col="overall",
                               timestamp_col="unixReviewTime")
    assert list(df.columns) == ["user", "item", "rating", "timestamp"]
    assert df["user"].tolist() == ["A1", "A2", "A1"]
    assert df["rating"].dtype == np.float32 and df["rating"].tolist() == [5.0, 3.0, 4.0]
    assert df["timestamp"].dtype == np.int64 and df["timestamp"].tolist() == [100, 200, 150]


def test_load_interactions_csv_integer_ids_implicit_and_dates(tmp_path):
    p = tmp_path / "implicit.csv"
    p.write_text("u,i,when\n7,42,2020-01-01\n8,0042,2020-01-02T00:00:10Z\n")
    df = load_interactions_csv(p, user_col="u", item_col="i", rating_col=None, timestamp_col="when")
    assert df["user"].dtype == np.int64
    assert df["item"].tolist() == ["42", "0042"]  # leading zeros: kept as text, not merged
    assert df["rating"].tolist() == [1.0, 1.0]
    assert df["timestamp"].tolist() == [1577836800, 1577923210]
    no_time = load_interactions_csv(p, user_col="u", item_col="i", rating_col=None, timestamp_col=None)
    assert no_time["timestamp"].tolist() == [0, 0]


def test_load_interactions_csv_errors(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("user,item,score\n1,2,4\n1,3,bad\n")
    with pytest.raises(SchemaError, match=r"missing column\(s\) \['rating'\].*found \['user', 'item', 'score'\]"):
        load_interactions_csv(p, user_col="user", item_col="item", timestamp_col=None)
    with pytest.raises(SchemaError, match=r"bad\.csv, line 3: score: 'bad' is not a number"):
        load_interactions_csv(p, user_col="user", item_col="item", rating_col="score", timestamp_col=None)
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_interactions_csv(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------
# Real data (skips when ../shared/data is absent)
# ---------------------------------------------------------------------------


@pytest.mark.real_data
def test_real_ml100k(real_dataset):
    data = read_movielens_dir("ml-100k", real_dataset("ml-100k"))
    assert len(data.interactions) == 100_000
    assert data.n_users == 943 and data.n_items == 1682 and len(data.items) == 1682
    assert data.interactions["rating"].isin([1, 2, 3, 4, 5]).all()
    items = data.items.set_index("item")
    assert items.loc[1, "title"] == "Toy Story (1995)" and items.loc[1, "year"] == 1995
    assert items.loc[1, "genres"] == "Animation|Children's|Comedy"
    assert items["year"].isna().sum() == 1  # item 267 "unknown" has neither title year nor date


@pytest.mark.real_data
def test_real_ml_latest_small(real_dataset):
    data = read_movielens_dir("ml-latest-small", real_dataset("ml-latest-small"))
    assert len(data.interactions) == 100_836
    assert data.n_users == 610 and len(data.items) == 9_742 and data.n_items == 9_724
    items = data.items.set_index("item")
    assert items.loc[1, "imdb_id"] == "0114709" and items.loc[1, "tmdb_id"] == 862
    assert set(items.loc[1, "tags"].split("|")) == {"pixar", "fun"}
    assert items["tmdb_id"].isna().sum() == 8
    assert (items["genres"] == "").sum() == 34  # "(no genres listed)"


@pytest.mark.real_data
def test_real_ml100k_chrono_split_matches_recommenders_notebook(real_dataset):
    inter = read_movielens_dir("ml-100k", real_dataset("ml-100k")).interactions
    train, test = chrono_ratio_split(inter, 0.75)
    assert len(train) == 74_992  # the Recommenders NCF notebook's number
    assert len(test) == 25_008
    assert len(filter_to_train(test, train)) == 24_891
    # The current recommenders package (rank / n <= ratio) keeps fewer rows.
    train_f, _ = chrono_ratio_split(inter, 0.75, rule="fraction")
    assert len(train_f) == 74_646


# ---------------------------------------------------------------------------
# Bad input a new user met (issue 7, item 10): empty releases, duplicates, ids, scales
# ---------------------------------------------------------------------------


def _lines(path, encoding="utf-8"):
    return path.read_text(encoding=encoding).splitlines()


def _write_lines(path, lines, encoding="utf-8"):
    path.write_text("\n".join(lines) + "\n", encoding=encoding)


@pytest.mark.parametrize("fmt, fname, keep", [
    ("ml-latest-small", "ratings.csv", 1),  # header only
    ("ml-25m", "ratings.csv", 1),
    ("ml-100k", "u.data", 0),  # no line at all
    ("ml-1m", "ratings.dat", 0),
])
def test_empty_ratings_file_is_an_error_naming_it(fmt, fname, keep, synthetic_release):
    d = synthetic_release(fmt)
    lines = _lines(d / fname, "latin-1")[:keep]
    (d / fname).write_text("".join(line + "\n" for line in lines), encoding="latin-1")
    with pytest.raises(SchemaError) as err:
        load_movielens(fmt, data_dir=d)
    msg = str(err.value)
    assert msg.startswith(f"{d / fname}: no ratings (") and "needs at least one rating" in msg
    assert ("only the header line" if keep else "no data lines") in msg


@pytest.mark.parametrize("fmt, fname, problem", [
    ("ml-100k", "u.item", "no movies (no data lines)"),
    ("ml-100k", "u.genre", "no genre names (no data lines)"),
    ("ml-1m", "movies.dat", "no movies (no data lines)"),
])
def test_empty_movie_files_are_errors_naming_them(fmt, fname, problem, synthetic_release):
    d = synthetic_release(fmt)
    (d / fname).write_text("\n")
    with pytest.raises(SchemaError) as err:
        load_movielens(fmt, data_dir=d)
    assert str(err.value).startswith(f"{d / fname}: {problem}")


def test_empty_movies_and_zero_byte_csv_are_errors(synthetic_release):
    d = synthetic_release("ml-latest-small")
    _write_lines(d / "movies.csv", _lines(d / "movies.csv")[:1])
    with pytest.raises(SchemaError, match=r"movies\.csv: no movies \(only the header line\)"):
        load_movielens("ml-latest-small", data_dir=d)
    (d / "ratings.csv").write_bytes(b"")
    with pytest.raises(SchemaError, match=r"ratings\.csv: the file is empty; expected a header line"):
        load_movielens("ml-latest-small", data_dir=d)


@pytest.mark.parametrize("fmt", ["ml-100k", "ml-latest-small"])
def test_duplicate_ratings_are_merged_by_the_stated_rule(fmt, synthetic_release, capsys):
    d = synthetic_release(fmt)
    fname, sep = ("u.data", "\t") if fmt == "ml-100k" else ("ratings.csv", ",")
    lines = _lines(d / fname)
    first = 1 if fmt != "ml-100k" else 0  # index of the first data line
    u, i, _, t = lines[first + 4].split(sep)  # file line first + 5
    u2, i2, _, t2 = lines[first + 9].split(sep)
    rating = "1" if fmt == "ml-100k" else "1.0"
    lines.insert(first + 2, "")  # a blank line: pandas skips it, the line numbers must not
    lines += [
        sep.join([u, i, rating, str(int(t) + 10)]),  # later: replaces the original
        sep.join([u2, i2, rating, str(int(t2) - 10)]),  # earlier: the original stays
        sep.join([u2, i2, "2" if fmt == "ml-100k" else "2.0", t2]),  # same time as the original, later in file
    ]
    _write_lines(d / fname, lines)
    n_lines = len(lines)
    data = load_movielens(fmt, data_dir=d, progress=True)
    inter = data.interactions
    assert len(inter) == 600 and not inter.duplicated(["user", "item"]).any()
    pair = inter[(inter.user == int(u)) & (inter.item == int(i))]
    assert pair["rating"].tolist() == [1.0] and pair["timestamp"].tolist() == [int(t) + 10]
    pair2 = inter[(inter.user == int(u2)) & (inter.item == int(i2))]
    assert pair2["rating"].tolist() == [2.0] and pair2["timestamp"].tolist() == [int(t2)]  # the tie: last in file
    dup = data.report["duplicates"]
    assert (dup["rows_dropped"], dup["pairs"]) == (3, 2) and dup["file"] == str(d / fname)
    assert data.report["rows_read"] == 603 and data.report["ratings"] == 600
    # File lines, 1-based, counting the header and the blank line.
    assert dup["examples"][0]["lines"] == [first + 6, n_lines - 2]
    assert dup["examples"][0]["kept_line"] == n_lines - 2
    assert dup["examples"][1]["lines"] == [first + 11, n_lines - 1, n_lines]
    assert dup["examples"][1]["kept_line"] == n_lines
    out = capsys.readouterr().out
    assert f"[hncf] {fmt}: 600 ratings (603 rows read) from {d / fname}" in out
    assert (f"{d / fname}: merged 3 duplicate row(s) of 2 (user, item) pair(s) (kept the latest by timestamp; "
            f"ties: the last in file order); e.g. user {u} item {i} on lines {first + 6}, {n_lines - 2}") in out
    # So that a pair can never sit in training and test at once.
    from hncf.data.splits import leave_one_out_split

    train, test = leave_one_out_split(inter)
    both = train.merge(test, on=["user", "item"])
    assert len(both) == 0


def test_clean_release_prints_one_line_and_reports_zero(synthetic_release, capsys):
    d = synthetic_release("ml-1m")
    data = load_movielens("ml-1m", data_dir=d, progress=True)
    assert capsys.readouterr().out == f"[hncf] ml-1m: 600 ratings from {d / 'ratings.dat'}\n"
    r = data.report
    assert r["duplicates"]["rows_dropped"] == 0 and r["unlisted_items"]["items"] == 0
    assert r["movies_without_genres"]["movies"] == 0
    load_movielens("ml-1m", data_dir=d, progress=False)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("fmt, fname, lineno, bad, problem", [
    ("ml-100k", "u.data", 3, "-1\t2\t3\t881250949", "user: '-1' is a negative id"),
    ("ml-1m", "ratings.dat", 8, "3::-40::5::978300760", "item: '-40' is a negative id"),
    ("ml-latest-small", "ratings.csv", 5, "-7,5,4.0,964982703", "userId: '-7' is a negative id"),
    ("ml-latest-small", "movies.csv", 4, "-3,Foo (1999),Drama", "movieId: '-3' is a negative id"),
    ("ml-100k", "u.data", 4, "1\t2\t99\t881250949", "rating: '99' is outside the rating scale (whole stars 1 to 5)"),
    ("ml-100k", "u.data", 4, "1\t2\t0\t881250949", "rating: '0' is outside the rating scale (whole stars 1 to 5)"),
    ("ml-1m", "ratings.dat", 9, "3::4::4.5::978300760", "rating: '4.5' is outside the rating scale (whole stars"),
    ("ml-latest-small", "ratings.csv", 6, "1,5,99,964982703",
     "rating: '99' is outside the rating scale (half stars 0.5 to 5.0)"),
    ("ml-20m", "ratings.csv", 6, "1,5,3.7,964982703", "rating: '3.7' is outside the rating scale (half stars"),
    ("ml-25m", "ratings.csv", 6, "1,5,0.0,964982703", "rating: '0.0' is outside the rating scale (half stars"),
    ("ml-25m", "ratings.csv", 6, "1,5,nan,964982703", "rating: 'nan' is not a finite number"),
])
def test_negative_ids_and_off_scale_ratings_name_the_line(fmt, fname, lineno, bad, problem, synthetic_release):
    d = synthetic_release(fmt)
    _replace_line(d / fname, lineno, bad, "latin-1")
    with pytest.raises(SchemaError) as err:
        load_movielens(fmt, data_dir=d)
    assert str(err.value).startswith(f"{d / fname}, line {lineno}: {problem}")
    assert repr(bad) in str(err.value)


def test_half_and_whole_stars_load(synthetic_release):
    d = synthetic_release("ml-latest-small")
    _replace_line(d / "ratings.csv", 2, "1,5,0.5,964982703")
    _replace_line(d / "ratings.csv", 3, "1,6,5.0,964982703")
    assert set(load_movielens("ml-latest-small", data_dir=d).interactions["rating"]) <= set(np.arange(1, 11) / 2)


def test_movies_without_genres_are_counted(synthetic_release, capsys):
    d = synthetic_release("ml-latest-small")
    lines = _lines(d / "movies.csv")
    missing_field = lines[2].rsplit(",", 1)[0]  # "id,title" with no genres field at all
    lines[2] = missing_field
    lines[4] = lines[4].rsplit(",", 1)[0] + ","  # an empty genres field
    _write_lines(d / "movies.csv", lines)
    data = load_movielens("ml-latest-small", data_dir=d, progress=True)
    ids = [int(lines[k].split(",")[0]) for k in (2, 4)]
    genres = data.report["movies_without_genres"]
    last = int(data.items["item"].iloc[len(lines) - 2])  # the synthetic "(no genres listed)" movie
    assert genres["movies"] == 3 and genres["examples"] == ids + [last]
    assert data.items.set_index("item").loc[ids, "genres"].tolist() == ["", ""]
    assert (f"{d / 'movies.csv'}: 3 movie(s) without genres (empty or '(no genres listed)'), "
            f"e.g. ids {ids[0]}, {ids[1]}, {last}") in capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["ml-100k", "ml-1m", "ml-latest-small"])
def test_rated_movie_missing_from_movies_file_is_reported(fmt, synthetic_release):
    d = synthetic_release(fmt)
    movies_file, enc, sep = {"ml-100k": ("u.item", "latin-1", "|"), "ml-1m": ("movies.dat", "latin-1", "::"),
                             "ml-latest-small": ("movies.csv", "utf-8", ",")}[fmt]
    lines = _lines(d / movies_file, enc)
    k = 2 if fmt == "ml-latest-small" else 1
    gone = int(lines[k].split(sep)[0])
    del lines[k]
    _write_lines(d / movies_file, lines, enc)
    data = load_movielens(fmt, data_dir=d)
    n_rated = int((data.interactions["item"] == gone).sum())
    assert n_rated > 0 and len(data.interactions) == 600  # the ratings are kept
    un = data.report["unlisted_items"]
    assert un == {"file": str(d / movies_file), "items": 1, "ratings": n_rated, "examples": [gone]}
    row = data.items.set_index("item").loc[gone]
    assert row["title"] == "" and row["genres"] == "" and pd.isna(row["year"])
    assert data.items["item"].is_unique and str(data.items["year"].dtype) == "Int64"
    assert f"1 rated movie id(s) not listed ({n_rated:,} rating(s)), kept with an empty title" in \
        " ".join(data.report_lines())
    # The movie's text is a real string, so feature caches can hash it (it was NaN, then a TypeError).
    from hncf.data.movie_text import UNKNOWN_MOVIE_TEXT, build_movie_texts

    texts = build_movie_texts(data.items)
    assert texts[gone] == UNKNOWN_MOVIE_TEXT and texts.map(type).eq(str).all()


def test_env_data_dir_without_the_dataset_says_so(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HNCF_DATA_DIR", str(tmp_path))
    with caplog.at_level("WARNING", logger="hncf"), pytest.raises(FileNotFoundError, match="no local copy of ml-1m"):
        load_movielens("ml-1m", download=False)
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == [(f"hncf: warning: $HNCF_DATA_DIR is {tmp_path} but holds no ml-1m/ folder "
                     f"({tmp_path / 'ml-1m'} not found); looking in the download cache instead")]
    caplog.clear()
    monkeypatch.delenv("HNCF_DATA_DIR")
    with pytest.raises(FileNotFoundError):
        load_movielens("ml-1m", download=False)
    assert caplog.records == []


@pytest.mark.real_data
def test_real_ml100k_has_no_duplicates(real_dataset):
    data = load_movielens("ml-100k", data_dir=real_dataset("ml-100k"), download=False, progress=False)
    assert len(data.interactions) == 100_000 and data.report["rows_read"] == 100_000
    assert data.report["duplicates"]["rows_dropped"] == 0
    assert data.report["unlisted_items"]["items"] == 0 and data.report["movies_without_genres"]["movies"] == 0
