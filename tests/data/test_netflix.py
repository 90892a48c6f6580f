"""Netflix catalogue and Prize loaders on files written in the real formats, and the MovieLens link."""

from __future__ import annotations

import pandas as pd
import pytest

from hncf.data.netflix import (catalog_texts, link_to_movielens, load_netflix_titles, load_prize_ratings,
                               load_prize_titles, normalise_title, write_synthetic_netflix_titles)

HEADER = "show_id,type,title,director,cast,country,date_added,release_year,rating,duration,listed_in,description\n"


def write_titles(tmp_path, body: str):
    p = tmp_path / "netflix_titles.csv"
    p.write_text(HEADER + body, encoding="utf-8")
    return p


def test_titles_quirks_are_repaired_and_counted(tmp_path):
    body = (
        's1,Movie,Dick Johnson Is Dead,Kirsten Johnson,,United States,"September 25, 2021",2020,PG-13,90 min,'
        'Documentaries,"As her father nears the end of his life, a filmmaker stages his death."\n'
        's2,Movie,1922,Zak Hilditch,"Thomas Jane, Molly Parker",United States,"October 20, 2017",2017,TV-MA,103 min,'
        '"Dramas, Thrillers","A farmer pens a confession."\n'
        's3,Movie,Louis C.K. 2017,Louis C.K.,Louis C.K.,United States,"April 4, 2017",2017,74 min,,Movies,'
        '"Louis C.K. muses on religion."\n'
        's4,TV Show,3%,,"João Miguel",Brazil,"August 14, 2020",2020,TV-MA,4 Seasons,'
        '"International TV Shows, TV Sci-Fi & Fantasy","In a future where the elite inhabit an island,\n'
        'the rest fight for a chance."\n'
        's5,Movie,Broken Row,too,few,fields\n'
        's1,Movie,Repeated Id,,,,,2001,R,90 min,Dramas,"Same id as line 2."\n'
        's6,Movie,Horror Night,,,,,2019,R,91 min,Horror Movies,"A ghost haunts a house."\n'
    )
    cat = load_netflix_titles(write_titles(tmp_path, body))
    items, rep = cat.items, cat.report
    assert items["item"].tolist() == ["s1", "s2", "s3", "s4", "s6"]
    # Line numbers count the header and the two-line quoted description of s4.
    assert rep["skipped"] == [{"line": 7, "reason": "expected 12 fields, found 6"},
                              {"line": 8, "reason": "repeated show_id 's1'"}]
    assert rep["duration_in_rating"] == ["s3"]
    s3 = items.set_index("item").loc["s3"]
    assert (s3["rating"], s3["duration"]) == ("", "74 min")
    assert items.set_index("item").loc["s2", "title"] == "1922"  # a number stays text
    assert rep["numeric_titles"] == 2  # "1922" and "3%"
    assert rep["missing"]["director"] == 2 and rep["missing"]["country"] == 1
    assert items.set_index("item").loc["s2", "genres"] == "Dramas|Thrillers"
    assert items["year"].dtype == "Int64" and items["year"].tolist() == [2020, 2017, 2017, 2020, 2019]
    assert "\n" in items.set_index("item").loc["s4", "description"]
    assert cat.items["line"].tolist() == [2, 3, 4, 5, 9]


def test_titles_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="netflix_titles.csv"):
        load_netflix_titles(tmp_path / "netflix_titles.csv")
    p = tmp_path / "bad.csv"
    p.write_text("id,name\n1,x\n")
    with pytest.raises(ValueError, match=r"bad.csv: header lacks column\(s\) \['show_id', 'title'"):
        load_netflix_titles(p)
    p.write_bytes(HEADER.encode() + b's1,Movie,Bad \xff byte,,,,,2001,R,90 min,Dramas,"x"\n')
    with pytest.raises(ValueError, match="line 2: not valid UTF-8"):
        load_netflix_titles(p)


def test_catalog_texts_join_title_genres_description(tmp_path):
    cat = load_netflix_titles(write_synthetic_netflix_titles(tmp_path / "n.csv", n=20))
    texts = catalog_texts(cat.items)
    assert texts.index.tolist() == cat.items["item"].tolist()
    first = cat.items.iloc[0]
    assert texts.iloc[0] == f"{first['title']}. {first['genres']}. {first['description']}"
    assert texts.loc["s17"].startswith("1917. ")  # numeric synthetic title
    assert cat.report["duration_in_rating"] == ["s5"]


def test_prize_ratings_blocks_and_bad_lines(tmp_path):
    p = tmp_path / "combined_data_1.txt"
    p.write_text("99,3,2005-01-01\n1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n885013,7,2005-10-19\n"
                 "2:\n30878,4,2005-12-26\n30878,4\n823519,3,2004-13-03\n\n3:\n5,1,2001-02-03\n")
    df, rep = load_prize_ratings(p)
    assert df.columns.tolist() == ["user", "item", "rating", "timestamp"]
    assert df["item"].tolist() == [1, 1, 2, 3]
    assert df["user"].tolist() == [1488844, 822109, 30878, 5]
    assert df["rating"].tolist() == [3.0, 5.0, 4.0, 1.0]
    assert df["timestamp"].iloc[0] == int(pd.Timestamp("2005-09-06").timestamp())
    assert rep["n_skipped"] == 4
    assert [(s["line"], s["reason"]) for s in rep["skipped"]] == [
        (1, "rating line before any MovieID: line"), (5, "rating is not 1-5"),
        (8, "expected MovieID: or CustomerID,Rating,Date"), (9, "date is not YYYY-MM-DD")]


def test_prize_titles_latin1_commas_and_null_years(tmp_path):
    p = tmp_path / "movie_titles.csv"
    p.write_bytes("1,2003,Dinosaur Planet\n2,2004,Isle of Man TT 2004 Review\n"
                  "3,1997,Character\n4,NULL,Ancient Civilizations: Rome, Greece, Egypt\n"
                  "5,2001,Am\u00e9lie\nnot-an-id,2000,Broken\n".encode("iso-8859-1"))
    df, rep = load_prize_titles(p)
    assert df["item"].tolist() == [1, 2, 3, 4, 5]
    assert df.set_index("item").loc[4, "title"] == "Ancient Civilizations: Rome, Greece, Egypt"
    assert df.set_index("item").loc[5, "title"] == "Am\u00e9lie"
    assert pd.isna(df.set_index("item").loc[4, "year"]) and rep["null_years"] == 1
    assert rep["skipped"] == [{"line": 6, "reason": "expected MovieID,YearOfRelease,Title"}]


def test_normalise_title_undoes_movielens_conventions():
    ml = pd.Series(["Matrix, The (1999)", "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)", "Se7en (1995)"])
    assert normalise_title(ml, movielens=True).tolist() == ["the matrix", "amelie", "se7en"]
    assert normalise_title(pd.Series(["The Matrix", "Amélie", "Fast & Furious"])).tolist() == \
        ["the matrix", "amelie", "fast and furious"]


def test_link_to_movielens_by_title_and_year():
    catalog = pd.DataFrame({"item": ["s1", "s2", "s3", "s4"], "title": ["The Matrix", "Amélie", "Heat", "Nothing"],
                            "year": pd.array([1999, 2001, 2020, 2001], dtype="Int64")})
    ml_items = pd.DataFrame({"item": [10, 20, 30, 31], "title": ["Matrix, The (1999)", "Amelie (2001)",
                                                              "Heat (1995)", "Matrix, The (1999)"]})
    ratings = pd.DataFrame({"user": [1, 2, 3], "item": [31, 31, 20]})
    links, rep = link_to_movielens(catalog, ml_items, ratings)
    # Heat's years differ; the duplicate "Matrix" keeps the movie with more ratings (31).
    assert links[["item", "ml_item"]].values.tolist() == [["s1", 31], ["s2", 20]]
    assert rep["linked"] == 2 and rep["match_rate"] == 0.5 and rep["exact_title_year_matches"] == 2
    assert rep["linked_with_10_ratings"] == 0


@pytest.mark.real_data
def test_real_catalogue_and_link(real_dataset):
    from hncf.data.movielens import read_movielens_dir

    cat = load_netflix_titles(real_dataset("netflix-titles") / "netflix_titles.csv")
    rep = cat.report
    assert rep["rows"] == 8807 and rep["skipped"] == []
    assert rep["duration_in_rating"] == ["s5542", "s5795", "s5814"]
    assert rep["missing"]["director"] == 2634 and rep["numeric_titles"] >= 10
    ml = read_movielens_dir("ml-latest-small", real_dataset("ml-latest-small"))
    links, lrep = link_to_movielens(cat.items, ml.items, ml.interactions)
    # The issue counts 854 exact title + year matches; this normalisation finds a few more (alternative
    # titles and accents), the case-sensitive raw rule fewer.
    assert 830 <= lrep["linked"] <= 950 and lrep["exact_title_year_matches"] <= lrep["linked"]
    assert links["item"].is_unique


def test_catalog_texts_leave_out_missing_parts():
    items = pd.DataFrame({"item": ["1", "2", "3"], "title": ["Toy Story (1995)", "Louis C.K.", "Heat"],
                          "genres": ["Adventure|Animation", "", "Action"], "description": ["", "Stand-up.", None]})
    assert catalog_texts(items).tolist() == ["Toy Story (1995). Adventure, Animation.", "Louis C.K. Stand-up.",
                                             "Heat. Action."]
