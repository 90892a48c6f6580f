"""BERT-RS experiment: no held-out review reaches a deployable vector; the paper-literal leak; a tiny run."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from hncf.cli import main
from hncf.data.amazon import read_reviews, write_synthetic_reviews
from hncf.data.schema import ITEM, USER
from hncf.experiments.bert_rs import (
    PRESETS,
    PairReviews,
    ReviewDocuments,
    fit_bert_rs,
    review_inputs,
    run_bert_rs,
    text_only_score,
)
from hncf.pipeline import prepare_loo


@pytest.fixture(scope="module")
def reviews_file(tmp_path_factory):
    return write_synthetic_reviews(tmp_path_factory.mktemp("amazon") / "reviews.json.gz", n_users=40, n_items=300,
                                   per_user=10, seed=1)


@pytest.fixture(scope="module")
def split_and_vectors(reviews_file):
    df, _ = read_reviews(reviews_file)
    inter = df[[USER, ITEM, "rating", "timestamp"]].assign(review=np.arange(len(df)))
    split = prepare_loo(inter, 0, None)
    vectors = np.random.default_rng(0).normal(size=(len(df), 6)).astype("float32")
    return split, vectors


def test_no_validation_or_test_review_reaches_a_deployable_vector(split_and_vectors):
    split, vectors = split_and_vectors
    poisoned = vectors.copy()
    held_out_test = split.test["review"].to_numpy()
    held_out_val = np.setdiff1d(split.full_train["review"], split.train["review"])
    poisoned[held_out_test] = 1e6
    all_pairs = None  # deployable never looks at the pairs table
    users = np.repeat(np.arange(len(split.users)), len(split.items))
    items = np.tile(np.arange(len(split.items)), len(split.users))
    final = review_inputs("deployable", split, poisoned, "final", all_pairs)(users, items)["review_vector"]
    assert np.abs(final).max() < 100  # no test review in any vector used to score
    poisoned[held_out_val] = 1e6
    selection = review_inputs("deployable", split, poisoned, "selection", all_pairs)(users, items)["review_vector"]
    assert np.abs(selection).max() < 100  # nor a validation review while epochs are selected
    clean = review_inputs("deployable", split, vectors, "final", all_pairs)(users, items)["review_vector"]
    assert np.abs(clean).max() > 0


def test_poisoned_test_reviews_change_no_score_of_the_trained_deployable_model(split_and_vectors):
    """Through the function that trains and scores (fit_bert_rs: selection on validation, refit, a
    score function): the test reviews' vectors replaced by large distinct values must leave every
    score of the deployable model on every pair, its training curve and the text-only score
    bit-identical. (The paper-literal mode reads those reviews by design; see the next tests.)"""
    split, vectors = split_and_vectors
    all_pairs = pd.concat([split.full_train, split.test])[[USER, ITEM, "review"]]
    poisoned = vectors.copy()
    test_reviews = split.test["review"].to_numpy()
    poisoned[test_reviews] = 50.0 + np.arange(len(test_reviews))[:, None]
    users = np.repeat(np.arange(len(split.users)), len(split.items))
    items = np.tile(np.arange(len(split.items)), len(split.users))
    # One stage (the final model, trained and scored on the final documents) keeps the test cheap;
    # the selection stage's documents are a subset of those (see the first test).
    preset = dataclasses.replace(PRESETS["tiny"], validate=False)
    runs = [fit_bert_rs("deployable", split, v, all_pairs, preset, 0, None, False, 0, {}, False)
            for v in (vectors, poisoned)]
    (clean_fn, clean_record), (fn, record) = runs
    np.testing.assert_array_equal(fn(users, items), clean_fn(users, items))
    assert record["history"] == clean_record["history"]  # the training loss, epoch by epoch
    np.testing.assert_array_equal(text_only_score(split, poisoned)(users, items),
                                  text_only_score(split, vectors)(users, items))


def test_documents_leave_the_pairs_own_review_out_and_match_a_hand_computation():
    import pandas as pd

    src = pd.DataFrame({USER: [0, 0, 1], ITEM: [0, 1, 1], "review": [0, 1, 2]})
    v = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]], "float32")
    docs = ReviewDocuments(src, v, n_users=2, n_items=3)
    # Pair (0, 0) is a training review: user 0's other review is [0, 1]; item 0 has no other review.
    np.testing.assert_allclose(docs.pair_vectors([0], [0]), [[0.0, 0.5]])
    # Pair (1, 0) is not: user 1's document [2, 2], item 0's [1, 0].
    np.testing.assert_allclose(docs.pair_vectors([1], [0]), [[1.5, 1.0]])
    np.testing.assert_allclose(docs.pair_vectors([0], [2]), [[0.25, 0.25]])  # item 2 has no review at all
    lookup = PairReviews([0, 1], [1, 1], [1, 2], v, n_items=3)
    np.testing.assert_allclose(lookup.pair_vectors([1, 0, 0], [1, 1, 2]), [[2, 2], [0, 1], [0, 0]])


def test_paper_literal_hands_the_test_pair_its_own_review(split_and_vectors):
    split, vectors = split_and_vectors
    import pandas as pd

    all_pairs = pd.concat([split.full_train, split.test])
    fn = review_inputs("paper-literal", split, vectors, "final", all_pairs)
    tu, ti = split.test[USER].to_numpy(), split.test[ITEM].to_numpy()
    np.testing.assert_allclose(fn(tu, ti)["review_vector"], vectors[split.test["review"].to_numpy()])
    negatives = fn(tu, split.test_negatives[:, 0])["review_vector"]
    assert not negatives.any()  # an unseen candidate has no review: the held-out item stands out


def _without_text(path, out, every: int):
    """A copy of the review file at ``path`` where every ``every``-th line has no reviewText and no summary."""
    import gzip

    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    for k in range(0, len(lines), every):
        lines[k] = json.dumps({**json.loads(lines[k]), "reviewText": "", "summary": " "})
    out.write_text("\n".join(lines) + "\n")
    return out, len(range(0, len(lines), every))


def test_tiny_run_reports_every_row_under_both_protocols(reviews_file, tmp_path, tiny_text_models):
    out = tmp_path / "run"
    # A few reviews without any text: counted, kept, and stated in results.md.
    reviews_file, n_empty = _without_text(reviews_file, tmp_path / "reviews.json", every=40)
    code = main(["reproduce", "bert-rs", "--reviews", str(reviews_file), "--preset", "tiny", "--min-user-reviews", "3",
                 "--min-item-reviews", "1", "--text-encoder", str(tiny_text_models.preset), "--review-tokens", "16", "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert code == 0
    report = json.loads((out / "metrics.json").read_text())
    for protocol in ("loo", "paper"):
        rows = report["protocols"][protocol]["models"]
        assert {"EASE", "NeuMF", "BERT-RS (deployable)", "BERT-RS (paper-literal)"} <= set(rows)
        for r in rows.values():
            assert 0 <= r["metrics"]["hr@1"] <= r["metrics"]["hr@10"] <= 1
    md = (out / "results.md").read_text()
    assert "paper: BERT-RS" in md and "0.5340" in md and "best id-only baseline" in md
    texts = report["review_texts"]
    assert texts["without_text"] == n_empty and texts["with_text"] + n_empty == texts["reviews"] == report["n_reviews"]
    assert f"**Warning**: {n_empty} of {texts['reviews']} reviews" in md and "have no text" in md


def test_reviews_that_mostly_lack_text_are_one_error_naming_the_file(reviews_file, tmp_path, capsys):
    reviews_file, _ = _without_text(reviews_file, tmp_path / "blank.json", every=1)
    out = tmp_path / "o"
    assert main(["reproduce", "bert-rs", "--reviews", str(reviews_file), "--min-user-reviews", "3",
                 "--min-item-reviews", "1", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{reviews_file}: only 0 of " in err[0] and "BERT-RS needs at least 50%" in err[0]
    assert not (out / "metrics.json").exists()


def test_a_review_file_with_nothing_usable_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops\n")
    assert main(["reproduce", "bert-rs", "--reviews", str(bad), "--out", str(tmp_path / "o"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.json has no usable review line" in err[0]
