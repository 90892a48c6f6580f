"""Typed-title recognition and request parsing for the query recommender (no model needed)."""

import pandas as pd
import pytest

from hncf.serving.query import QueryModel, parse_request, recognise_titles


@pytest.fixture
def qm():
    cat = pd.DataFrame({"movie_id": [1, 2, 3, 4, 5],
                        "name": ["Up (2009)", "Toy Story (1995)", "Toy Story 2 (1999)", "It (2017)", "It (1990)"],
                        "n_mentions": [10, 20, 5, 3, 8]})
    return QueryModel(model=None, catalogue=cat, meta={"mention_style": "title", "max_mentions": 5},
                      encoder=None, folder=None)


def test_titles_exact_forgiving_and_longest_first(qm):
    text = "I loved Up and toy story 2, also Toy Story (1995)!"
    found = recognise_titles(text, qm.titles)
    assert [i for _, _, i in found] == [0, 2, 1]
    assert text[found[1][0]:found[1][1]] == "toy story 2"
    assert text[found[2][0]:found[2][1]] == "Toy Story (1995)"


def test_one_word_titles_need_capitals_and_not_a_sentence_start(qm):
    assert recognise_titles("I loved it. It was great, something up my street", qm.titles) == []
    # "It" mid-sentence and capitalised: the most mentioned "It" wins without a year, the 2017 one with it.
    assert [i for *_, i in recognise_titles("Scary like It please", qm.titles)] == [4]
    assert [i for *_, i in recognise_titles("Scary like It 2017 please", qm.titles)] == [3]


def test_parse_request_renders_titles_and_collects_mentions(qm):
    text, mentions = parse_request("Like @2 and Up, but not @999", qm)
    assert text == "Like Toy Story (1995) and Up (2009), but not @999"
    assert mentions == [1, 0]
    with pytest.raises(ValueError, match="empty"):
        parse_request("   ", qm)
