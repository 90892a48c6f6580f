import numpy as np
import pandas as pd
import pytest

from hncf.data.movie_text import (
    ENGLISH_STOP_WORDS,
    build_movie_texts,
    filter_tags,
    load_movie_metadata,
    load_tags,
    preprocess_text,
    training_tag_cutoff,
)
from hncf.data.movielens import load_movielens
from hncf.data.schema import SchemaError


@pytest.fixture
def items():
    return pd.DataFrame({
        "item": np.array([1, 2, 3], dtype=np.int64),
        "title": ["Toy Story (1995)", "Matrix, The (1999)", "Unknown Film"],
        "year": pd.array([1995, 1999, pd.NA], dtype="Int64"),
        "genres": ["Adventure|Animation", "Action|Sci-Fi", ""],
        "imdb_id": ["0114709", "0133093", ""],
        "tmdb_id": pd.array([862, 603, pd.NA], dtype="Int64"),
    })


@pytest.fixture
def tags():
    return pd.DataFrame({
        "user": np.array([10, 11, 10, 12, 11, 12], dtype=np.int64),
        "item": np.array([1, 1, 2, 2, 3, 1], dtype=np.int64),
        "tag": ["pixar", "Pixar", "secretword", "secretword", "heldoutonly", "  "],
        "timestamp": np.array([100, 200, 300, 400, 500, 600], dtype=np.int64),
    })


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# Tags file
# ---------------------------------------------------------------------------


def test_load_tags(tmp_path):
    path = _write(tmp_path / "tags.csv",
                  'userId,movieId,tag,timestamp\n2,60756,funny,1445714994\n2,60756,"dark, funny",1445714996\n'
                  "3,1,,1445715000\n")
    t = load_tags(path)
    assert list(t.columns) == ["user", "item", "tag", "timestamp"]
    assert t["user"].dtype == np.int64 and t["item"].dtype == np.int64 and t["timestamp"].dtype == np.int64
    assert t["tag"].tolist() == ["funny", "dark, funny", ""]
    assert t["item"].tolist() == [60756, 60756, 1]


def test_load_tags_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_tags(tmp_path / "nope.csv")
    wrong = _write(tmp_path / "wrong.csv", "user,movie,tag,time\n1,2,x,3\n")
    with pytest.raises(SchemaError, match=r"wrong\.csv: wrong columns.*'userId', 'movieId', 'tag', 'timestamp'.*'user', 'movie'"):
        load_tags(wrong)
    bad = _write(tmp_path / "bad.csv", "userId,movieId,tag,timestamp\n1,2,ok,3\n1,two,bad,4\n")
    with pytest.raises(SchemaError, match=r"bad\.csv, line 3: movieId: 'two' is not an integer"):
        load_tags(bad)


# ---------------------------------------------------------------------------
# Metadata CSV
# ---------------------------------------------------------------------------


def test_load_movie_metadata_tmdb_lists(tmp_path):
    # The layout of Kaggle's "The Movies Dataset" (Python-repr lists of dicts, "id" = TMDB id).
    path = _write(tmp_path / "movies_metadata.csv",
                  "id,imdb_id,certification,overview,tagline,spoken_languages,production_countries,budget\n"
                  "862,tt0114709,G,Woody and Buzz.,,\"[{'iso_639_1': 'en', 'name': 'English'}]\","
                  "\"[{'iso_3166_1': 'US', 'name': 'United States of America'}]\",30000000\n"
                  "603,tt0133093,R,A hacker learns.,Free your mind.,\"[{'iso_639_1': 'en', 'name': 'English'}, "
                  "{'iso_639_1': 'zh', 'name': \"\"Putonghua\"\"}]\",\"['US', 'AU']\",63000000\n"
                  "1997-08-20,,,garbage row,,,,\n"
                  "603,tt0133093,PG,a duplicate keeps the first row,,,,\n")
    with pytest.warns(UserWarning, match=r"movies_metadata\.csv: skipped 1 row.*data row 3 \(id='1997-08-20'\)"):
        meta = load_movie_metadata(path)
    assert meta.index.name == "tmdb_id" and str(meta.index.dtype) == "Int64"
    assert meta.index.tolist() == [862, 603]
    assert list(meta.columns) == ["pg_rating", "spoken_languages", "overview", "tagline", "production_countries"]
    assert meta.loc[603, "spoken_languages"] == "English, Putonghua"
    assert meta.loc[603, "production_countries"] == "US, AU"
    assert meta.loc[862, "production_countries"] == "United States of America"
    assert meta.loc[603, "pg_rating"] == "R" and meta.loc[862, "tagline"] == ""


def test_load_movie_metadata_several_files_by_imdb(tmp_path):
    main = _write(tmp_path / "main.csv", "imdbId,overview,keywords\ntt0114709,Toys.,toy|friendship\n0133093,Hackers.,\n")
    credits = _write(tmp_path / "credits.csv",
                     "imdb_id,cast,keywords\n114709,\"[{'character': 'Woody', 'name': 'Tom Hanks'}, "
                     "{'character': 'Buzz', 'name': 'Tim Allen'}, {'character': 'Mr. Potato', 'name': \"Don Rickles\"}]\",ignored\n")
    meta = load_movie_metadata([main, credits], key="imdb_id", max_names=2)
    assert meta.index.name == "imdb_id" and sorted(meta.index.tolist()) == [114709, 133093]
    assert meta.loc[114709, "cast"] == "Tom Hanks, Tim Allen"  # max_names=2
    assert meta.loc[114709, "keywords"] == "toy, friendship"  # the first file wins
    assert meta.loc[133093, "cast"] == "" and meta.loc[133093, "overview"] == "Hackers."


def test_load_movie_metadata_errors(tmp_path):
    none = _write(tmp_path / "ratings_like.csv", "id,budget,revenue\n1,2,3\n")
    with pytest.raises(SchemaError, match=r"ratings_like\.csv: none of the expected metadata columns .*found \['id', 'budget', 'revenue'\]"):
        load_movie_metadata(none)
    nokey = _write(tmp_path / "nokey.csv", "title,overview\nA,B\n")
    with pytest.raises(SchemaError, match=r"nokey\.csv: no imdb_id column.*found \['title', 'overview'\]"):
        load_movie_metadata(nokey, key="imdb_id")
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        load_movie_metadata(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="unknown metadata key 'movieId'"):
        load_movie_metadata(none, key="movieId")


# ---------------------------------------------------------------------------
# Preprocessing
# ---------------------------------------------------------------------------


def test_preprocess_text():
    got = preprocess_text(pd.Series(
        ["The Matrix (1999): Sci-Fi & Action!", "It's a children's   film, isn't it?", "Amélie_2001 -- über", None],
        index=[7, 8, 9, 10],
    ))
    assert got.index.tolist() == [7, 8, 9, 10]
    assert got.tolist() == ["matrix 1999 sci fi action", "childrens film", "amélie 2001 über", ""]
    assert preprocess_text(["A AN THE"]).tolist() == [""]
    assert preprocess_text("Plain string").tolist() == ["plain string"]


def test_stop_words_are_nltk_english():
    assert len(ENGLISH_STOP_WORDS) >= 179
    assert {"the", "a", "and", "of", "not", "don't", "dont", "wouldn't", "wouldnt"} <= ENGLISH_STOP_WORDS
    assert not {"movie", "love", "war", "star"} & ENGLISH_STOP_WORDS


# ---------------------------------------------------------------------------
# Building the texts
# ---------------------------------------------------------------------------


def test_texts_fields_in_paper_order(items, tmp_path):
    meta_path = _write(tmp_path / "meta.csv",
                       "tmdb_id,production_countries,cast,keywords,overview,tagline,spoken_languages,certification,"
                       "production_companies\n"
                       "862,USA,Tom Hanks,toy,Toys come alive.,Hang on,English,G,Pixar\n")
    meta = load_movie_metadata(meta_path)
    tag_rows = pd.DataFrame({"user": [5], "item": [1], "tag": ["buddy"], "timestamp": [1]})
    raw = build_movie_texts(items, tags=tag_rows, metadata=meta, preprocess=False)
    assert raw.index.name == "item" and raw.index.tolist() == [1, 2, 3] and raw.name == "text"
    assert raw[1] == ("Toy Story (1995). G. Adventure, Animation. English. Toys come alive. Hang on. toy. "
                      "Tom Hanks. Pixar. USA. buddy")
    assert raw[2] == "The Matrix (1999). Action, Sci-Fi"  # no metadata row, no tags
    assert raw[3] == "Unknown Film"
    clean = build_movie_texts(items, tags=tag_rows, metadata=meta)
    assert clean[1] == "toy story 1995 g adventure animation english toys come alive hang toy tom hanks pixar usa buddy"
    assert clean[2] == "matrix 1999 action sci fi"


def test_metadata_joins_by_imdb(items, tmp_path):
    meta = load_movie_metadata(_write(tmp_path / "m.csv", "imdb_id,tagline\ntt0133093,Free your mind\n"), key="imdb_id")
    texts = build_movie_texts(items, metadata=meta, preprocess=False)
    assert texts[2] == "The Matrix (1999). Action, Sci-Fi. Free your mind" and texts[1].endswith("Animation")


def test_held_out_tag_never_reaches_the_text(items, tags):
    held_out = pd.DataFrame({"user": [10, 11], "item": [2, 3]})
    texts = build_movie_texts(items, tags=tags, exclude_pairs=held_out, preprocess=False)
    # User 10's "secretword" on held-out movie 2 is gone, but user 12 wrote the same tag: it stays, once.
    assert texts[2].count("secretword") == 1
    # "heldoutonly" was written only by held-out user 11 on held-out movie 3.
    assert "heldoutonly" not in texts[3]
    without_user_12 = build_movie_texts(items, tags=tags[tags["user"] != 12], exclude_pairs=held_out, preprocess=False)
    assert "secretword" not in without_user_12[2]
    # Without the filter both tags leak in (the paper's setting).
    leaky = build_movie_texts(items, tags=tags, preprocess=False)
    assert "heldoutonly" in leaky[3] and "secretword" in leaky[2]
    # Tags are deduplicated case-insensitively and blank tags dropped.
    assert leaky[1].endswith("Adventure, Animation. pixar")


def test_tag_cutoff(items, tags):
    assert "secretword" not in build_movie_texts(items, tags=tags, tag_cutoff=250, preprocess=False)[2]
    assert "pixar" in build_movie_texts(items, tags=tags, tag_cutoff=250, preprocess=False)[1]
    # Per user: 10 trains up to 150 and 12 up to 450; 11 has no training data at all.
    train = pd.DataFrame({"user": [10, 10, 12], "item": [7, 8, 9], "timestamp": [50, 150, 450]})
    cutoff = training_tag_cutoff(train)
    assert cutoff.to_dict() == {10: 150, 12: 450}
    kept = filter_tags(tags, tag_cutoff=cutoff)
    assert kept["timestamp"].tolist() == [100, 400]  # 10's pixar and 12's secretword
    assert filter_tags(tags, tag_cutoff={10: 1000})["user"].unique().tolist() == [10]


def test_build_errors(items, tags):
    with pytest.raises(ValueError, match="pass the raw tag rows"):
        build_movie_texts(items, exclude_pairs=pd.DataFrame({"user": [1], "item": [1]}))
    with pytest.raises(SchemaError, match=r"exclude_pairs: missing column\(s\) \['item'\]"):
        build_movie_texts(items, tags=tags, exclude_pairs=pd.DataFrame({"user": [1]}))
    with pytest.raises(SchemaError, match=r"tags: missing column\(s\) \['timestamp'\]"):
        build_movie_texts(items, tags=tags.drop(columns="timestamp"))
    with pytest.raises(SchemaError, match=r"items: missing column\(s\) \['title'\]"):
        build_movie_texts(items.drop(columns="title"))
    with pytest.raises(SchemaError, match=r"item id\(s\) \[2\] appear more than once"):
        build_movie_texts(pd.concat([items, items.iloc[[1]]]))
    no_links = items.drop(columns=["tmdb_id"])
    meta = pd.DataFrame({"tagline": ["x"]}, index=pd.Index([862], name="tmdb_id", dtype="Int64"))
    with pytest.raises(SchemaError, match="no 'tmdb_id' column to join the metadata on"):
        build_movie_texts(no_links, metadata=meta)
    with pytest.raises(ValueError, match="indexed by 'tmdb_id' or 'imdb_id'"):
        build_movie_texts(items, metadata=meta.rename_axis("movieId"))


def test_empty_text_names_the_item():
    items = pd.DataFrame({"item": [5, 6], "title": ["Heat (1995)", "The It (....)"], "genres": ["Crime", ""]})
    items["year"] = pd.array([1995, pd.NA], dtype="Int64")
    items.loc[1, "title"] = "It"  # only a stop word remains after preprocessing
    with pytest.raises(ValueError, match=r"1 movie\(s\) have empty feature text, e\.g\. item id\(s\) \[6\]"):
        build_movie_texts(items)
    assert build_movie_texts(items, preprocess=False)[6] == "It"


def test_movies_known_by_id_alone_get_a_real_text(caplog):
    from hncf.data.movie_text import UNKNOWN_MOVIE_TEXT
    from hncf.encoders.cache import content_hash

    items = pd.DataFrame({"item": [5, 6, 7], "title": ["Heat (1995)", "", np.nan], "genres": ["Crime", "Drama", ""]})
    with caplog.at_level("WARNING", logger="hncf"):
        texts = build_movie_texts(items, item_ids=[7, 5, 6, 99])
    assert texts.index.tolist() == [7, 5, 6, 99]
    assert texts.tolist() == [UNKNOWN_MOVIE_TEXT, "heat 1995 crime", "drama", UNKNOWN_MOVIE_TEXT]
    [content_hash(t) for t in texts]  # every text is a str: no NaN reaches the feature cache
    assert caplog.records[0].getMessage() == (
        "hncf: warning: 2 movie(s) have no title, genres, metadata or tags, e.g. item id(s) [7, 99]; "
        "their text is 'unknown'")
    # Without item_ids the result covers the items frame, untitled movies included.
    assert build_movie_texts(items).tolist() == ["heat 1995 crime", "drama", UNKNOWN_MOVIE_TEXT]
    with pytest.raises(ValueError, match=r"item_ids repeat id\(s\) \[5\]"):
        build_movie_texts(items, item_ids=[5, 5])


@pytest.mark.real_data
def test_real_ml_latest_small_texts(real_dataset):
    d = real_dataset("ml-latest-small")
    data = load_movielens("ml-latest-small", data_dir=d, download=False)
    tags = load_tags(d / "tags.csv")
    assert len(tags) == 3683 and tags["item"].isin(data.items["item"]).all()
    texts = build_movie_texts(data.items, tags=tags)
    assert len(texts) == 9742 and texts.index.is_unique and (texts.str.len() > 0).all()
    words = texts.str.split().str.len()
    print(f"\nml-latest-small movie texts: mean {words.mean():.2f} words (min {words.min()}, max {words.max()})")
    assert texts[1].startswith("toy story 1995 adventure animation children comedy fantasy")

    # Leave-one-out on the tags themselves: hold out each tag's (user, item) pair and
    # no tag text written only by held-out pairs survives.
    last = data.interactions.sort_values("timestamp").groupby("user").tail(1)[["user", "item"]]
    held = tags.merge(last, on=["user", "item"])
    assert len(held) > 0  # real held-out pairs do carry tags
    filtered = filter_tags(tags, exclude_pairs=last)
    assert len(filtered) == len(tags) - len(held)
    assert not pd.MultiIndex.from_frame(filtered[["user", "item"]]).isin(pd.MultiIndex.from_frame(last)).any()
    safe = build_movie_texts(data.items, tags=tags, exclude_pairs=last)
    assert (safe.str.len() > 0).all()
