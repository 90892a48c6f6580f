"""ReDial loader, example constructions and the MovieLens title join, on files written in the real format."""

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from hncf.data import redial as R

CATALOGUE = """movieId,movieName,nbMentions
111776,Super Troopers (2001),10
91481,Beverly Hills Cop (1984),5
151656,Police Academy  (1984),3
204870,The Mummy,4
84779,"Matrix, The (1999)",7
"""


def dialogue(cid, messages, mentions, rq=None, iq=None):
    """One dialogue in the official JSON-lines layout (initiator worker 1, respondent 2)."""
    return {
        "movieMentions": mentions,
        "respondentQuestions": rq if rq is not None else [],
        "messages": [{"timeOffset": k, "text": text, "senderWorkerId": who, "messageId": 100 + k}
                     for k, (who, text) in enumerate(messages)],
        "conversationId": str(cid), "respondentWorkerId": 2, "initiatorWorkerId": 1,
        "initiatorQuestions": iq if iq is not None else [],
    }


@pytest.fixture
def files(tmp_path):
    d1 = dialogue(1, [(1, "Hi, I like @111776 and &quot;funny&quot; films"), (2, "Try @91481 or @151656"),
                      (1, ""), (1, "I saw @151656 already"), (2, "Then @999999 or @84779"), (1, "thanks bye")],
                  {"111776": "Super Troopers (2001)", "91481": "Beverly Hills Cop (1984)",
                   "151656": "Police Academy  (1984)", "84779": "The Matrix (1999)"},
                  rq={"111776": {"suggested": 0, "seen": 1, "liked": 1},
                      "91481": {"suggested": 1, "seen": 0, "liked": 2},
                      "151656": {"suggested": 1, "seen": 1, "liked": 1},
                      "84779": {"suggested": 0, "seen": 1, "liked": 1}})
    # No respondent form: the initiator's form decides; worker 3 is neither party.
    d2 = dialogue(2, [(1, "Something like @84779"), (3, "spam"), (2, "@204870 is great")],
                  {"84779": "Matrix", "204870": "The Mummy"},
                  iq={"204870": {"suggested": 1, "seen": 0, "liked": 2}})
    path = tmp_path / "dialogues.jsonl"
    lines = [json.dumps(d1), "{not json", json.dumps({"conversationId": "9"}), "", json.dumps(d2),
             json.dumps(d1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / R.CATALOGUE_FILE).write_text(CATALOGUE, encoding="utf-8")
    return path, tmp_path / R.CATALOGUE_FILE


def test_read_dialogues_reports_malformed_lines_and_quirks(files):
    dialogues, report = R.read_dialogues(files[0])
    assert [d.conversation_id for d in dialogues] == ["1", "2"]
    assert [n for n, _ in report.malformed] == [2, 3, 6]
    assert "not JSON" in report.malformed[0][1] and "missing field" in report.malformed[1][1]
    assert "repeats" in report.malformed[2][1]
    assert report.quirks["empty messages (dropped)"] == 1
    assert report.quirks["messages with HTML entities"] == 1
    assert report.quirks["message from neither party (dropped)"] == 1
    assert report.quirks["respondentQuestions empty list/null"] == 1
    assert report.quirks["initiatorQuestions empty list/null"] == 1
    assert dialogues[0].messages[0].text == 'Hi, I like @111776 and "funny" films'
    assert [m.role for m in dialogues[0].messages] == ["initiator", "respondent", "initiator", "respondent",
                                                        "initiator"]
    assert "line 2" in report.summary()


def test_read_dialogues_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        R.read_dialogues(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("[1]\n{x\n")
    with pytest.raises(ValueError, match="no usable dialogue in 2 lines"):
        R.read_dialogues(bad)


def test_read_catalogue(files, tmp_path):
    cat = R.read_catalogue(files[1])
    assert list(cat["movie_id"]) == [111776, 91481, 151656, 204870, 84779]
    assert cat["name"][2] == "Police Academy (1984)" and cat["title"][2] == "Police Academy"
    assert cat["year"][2] == 1984 and pd.isna(cat["year"][3])
    dup = tmp_path / "dup.csv"
    dup.write_text("movieId,movieName,nbMentions\n1,A (2000),1\n1,B (2001),1\n")
    with pytest.raises(ValueError, match="repeated on line 3"):
        R.read_catalogue(dup)
    cols = tmp_path / "cols.csv"
    cols.write_text("id,name\n1,A\n")
    with pytest.raises(ValueError, match="missing column"):
        R.read_catalogue(cols)


def test_dialogue_construction_uses_initiator_text_and_suggested_movies(files):
    dialogues, _ = R.read_dialogues(files[0])
    cat = R.read_catalogue(files[1])
    ex = R.build_examples(dialogues, cat, "dialogue")
    assert len(ex) == 2
    assert ex.text_token[0] == 'Hi, I like @111776 and "funny" films [SEP] I saw @151656 already [SEP] thanks bye'
    assert ex.text_title[0].startswith('Hi, I like Super Troopers (2001) and')
    assert ex.text_placeholder[0].startswith('Hi, I like @ and')
    # Respondent mentioned 91481, 151656 (suggested) and 84779 (not suggested); 999999 is not in the catalogue.
    np.testing.assert_array_equal(ex.targets[0], [1, 2])
    np.testing.assert_array_equal(ex.mentions[0], [0, 2])
    np.testing.assert_array_equal(ex.new_targets()[0], [1])
    np.testing.assert_array_equal(ex.targets[1], [3])  # judged by the initiator's form
    assert ex.stats["mentions of ids not in the catalogue"] == 1
    assert ex.stats["targets_already_mentioned"] == 1


def test_turn_construction_one_example_per_recommending_turn(files):
    dialogues, _ = R.read_dialogues(files[0])
    cat = R.read_catalogue(files[1])
    ex = R.build_examples(dialogues, cat, "turn")
    assert len(ex) == 3
    np.testing.assert_array_equal(ex.targets[0], [1, 2])
    np.testing.assert_array_equal(ex.targets[1], [4])  # @999999 dropped from the targets
    np.testing.assert_array_equal(ex.mentions[1], [0, 1, 2, 2])  # both speakers, in order
    assert ex.text_token[1].endswith("I saw @151656 already")
    short = R.build_examples(dialogues, cat, "turn", max_context_chars=30)
    assert short.text_token[1] == "I saw @151656 already"  # the latest utterance always kept
    np.testing.assert_array_equal(short.mentions[1], [0, 1, 2, 2])
    with pytest.raises(ValueError, match="construction"):
        R.build_examples(dialogues, cat, "utterance")


def test_split_dialogues_is_a_seeded_partition():
    items = list(range(100))
    tr, va, te = R.split_dialogues(items, seed=3)
    assert (len(tr), len(va), len(te)) == (70, 10, 20)
    assert sorted(tr + va + te) == items
    assert R.split_dialogues(items, seed=3) == (tr, va, te) and R.split_dialogues(items, seed=4) != (tr, va, te)


def test_title_join_and_movie_texts(files):
    cat = R.read_catalogue(files[1])
    movies = pd.DataFrame({"movieId": [10, 11, 12, 13], "title": ["Matrix, The (1999)", "Mummy, The (1999)",
                                                                   "Police Academy (1984)", "Super Troopers (2002)"],
                           "genres": ["Action|Sci-Fi", "Horror", "Comedy", "Comedy"]})
    tags = pd.DataFrame({"userId": [1, 2, 3], "movieId": [10, 10, 12], "tag": ["cyberpunk", "Cyberpunk ", "cops"],
                         "timestamp": [0, 0, 0]})
    j = R.join_movielens(cat, movies)
    # Super Troopers: wrong year; The Mummy: no year, title used once in MovieLens.
    assert list(j["ml_movie_id"].astype("float").fillna(-1)) == [-1, -1, 12, 11, 10]
    assert list(j["match"]) == ["none", "none", "title+year", "title only", "title+year"]
    texts = R.movie_texts(j, movies, tags)
    assert texts[4] == "Matrix, The (1999) Genres: Action, Sci-Fi. Tags: cyberpunk."
    assert texts[0] == "Super Troopers (2001)"
    assert R.normalize_title("Léon: The Professional (a.k.a. The Professional)") == "leon the professional"


def test_download_redial_unpacks_once_and_atomically(tmp_path, files):
    archive = tmp_path / "redial_dataset.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(files[0], "redial_dataset/train_data.jsonl")
        z.write(files[0], "redial_dataset/test_data.jsonl")
        z.write(files[1], f"redial_dataset/{R.CATALOGUE_FILE}")
    cache = tmp_path / "cache"
    folder = R.download_redial(cache, url=archive.as_uri(), progress=False)
    assert sorted(p.name for p in folder.iterdir()) == sorted(R.OFFICIAL_FILES)
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]
    dialogues, catalogue = R.find_redial_files(data_dir=str(folder))
    assert catalogue.name == R.CATALOGUE_FILE and len(dialogues) == 2
    # Relative --dialogues names are looked for in --data-dir; a name found nowhere is named in the error.
    named, _ = R.find_redial_files("train_data.jsonl,test_data.jsonl", data_dir=str(folder))
    assert named == [folder / "train_data.jsonl", folder / "test_data.jsonl"]
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        R.find_redial_files("train_data.jsonl,missing.jsonl", data_dir=str(folder))
    bad = tmp_path / "other.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("readme.txt", "x")
    with pytest.raises(ValueError, match="lacks"):
        R.download_redial(tmp_path / "cache2", url=bad.as_uri(), progress=False)
    assert not [p for p in (tmp_path / "cache2").iterdir() if p.is_dir()]


def test_real_redial_files(real_dataset):
    folder = real_dataset("redial")
    cat = R.read_catalogue(folder / R.CATALOGUE_FILE)
    assert len(cat) == 6924
    total = 0
    for name in ("conversations_sample.jsonl", "conversations_train_part.jsonl"):
        dialogues, report = R.read_dialogues(folder / name)
        assert report.malformed == []
        assert report.quirks["respondentQuestions empty list/null"] > 0
        total += len(dialogues)
        ex = R.build_examples(dialogues, cat, "turn")
        # About 10% of per-turn targets were mentioned earlier in the dialogue (DESIGN.md).
        assert 0.05 < ex.stats["share_already_mentioned"] < 0.15
    assert total == 1897


def test_real_join_with_movielens(real_dataset):
    cat = R.read_catalogue(real_dataset("redial") / R.CATALOGUE_FILE)
    movies = pd.read_csv(real_dataset("ml-latest-small") / "movies.csv")
    j = R.join_movielens(cat, movies)
    assert 3500 < j["ml_movie_id"].notna().sum() < 5007  # ml-latest-small is smaller than the paper's ML-25M
