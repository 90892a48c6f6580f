"""Query experiment: baselines and views by hand, and a whole tiny run on synthetic dialogues through the CLI."""

import json

import numpy as np
import pandas as pd
import pytest

from hncf.data import redial as R
from hncf.experiments import query as Q


def _examples(mentions, targets, construction="dialogue"):
    n = len(targets)
    text = np.array(["x"] * n, dtype=object)
    return R.Examples(text, text, text, [np.array(m, np.int64) for m in mentions],
                      [np.array(t, np.int64) for t in targets], np.arange(n).astype(object), construction)


def test_repetition_ranks_mentions_latest_first_then_popularity():
    ex = _examples([[3, 1], []], [[1], [0]])
    pop = np.array([5.0, 0.0, 9.0, 1.0, 2.0])
    s = Q.repetition_scores(ex, pop)
    assert list(np.argsort(-s[0], kind="stable")) == [1, 3, 2, 0, 4]
    assert list(np.argsort(-s[1], kind="stable")) == [2, 0, 4, 3, 1]


def test_cooccurrence_counts_shared_training_dialogues():
    cat = pd.DataFrame({"movie_id": [10, 11, 12, 13], "name": list("abcd"), "n_mentions": [0] * 4})
    msg = lambda text: R.Message("initiator", text)  # noqa: E731
    train = [R.Dialogue("1", [msg("@10 @11")], {}, {}, {}), R.Dialogue("2", [msg("@10 and @12 @12")], {}, {}, {}),
             R.Dialogue("3", [msg("@10 @12")], {}, {}, {})]
    pop = Q.training_popularity(train, cat)
    np.testing.assert_array_equal(pop, [3, 1, 3, 0])
    s = Q.cooccurrence_scores(_examples([[0]], [[2]]), train, cat, pop)
    # Movie 12 shared two dialogues with 10, movie 11 one; popularity (< 1) breaks ties.
    np.testing.assert_allclose(s[0] - pop / 4, [0, 1, 2, 0])


def test_paired_differences_and_best_variant_by_hand():
    def seed(bert, pop, val):
        return {"bert": {"all": {"ndcg@10": bert, "recall@10": bert}, "new": {"ndcg@10": bert / 2, "recall@10": 0.0},
                         "validation_ndcg@10": val},
                "rnn": {"all": {"ndcg@10": 0.0, "recall@10": 0.0}, "new": {"ndcg@10": 0.0, "recall@10": 0.0},
                        "validation_ndcg@10": 0.5},
                "popularity": {v: {"ndcg@10": pop, "recall@10": pop} for v in ("all", "new")}}
    per_seed = [seed(0.30, 0.10, 0.6), seed(0.20, 0.10, 0.6)]
    assert Q.best_variant(per_seed, ("bert", "rnn")) == "bert"
    d = Q.paired_differences(per_seed, "bert")
    assert list(d) == ["popularity"]  # baselines that were not run are left out
    mean, sd = d["popularity"]["all"]["ndcg@10"]
    assert mean == pytest.approx(0.15) and sd == pytest.approx(np.std([0.2, 0.1], ddof=1))
    assert d["popularity"]["new"]["ndcg@10"][0] == pytest.approx(0.025)
    md = "\n".join(Q.differences_markdown("bert", d))
    assert "+0.1500 ± 0.0707" in md and "`bert` (best on validation)" in md


def test_refit_stage_fits_train_and_validation_examples():
    train, val = _examples([[0], [1]], [[1], [2]]), _examples([[2]], [[3]])
    split = Q.QuerySplit(None, train, val, val, ["d1", "d2"], [], "", ["d3"])
    vectors = {("title", "train"): np.zeros((2, 3)), ("title", "validation"): np.ones((1, 3)),
               ("title", "test"): np.ones((1, 3))}
    stages = Q.fit_stages(split, vectors, refit=True)
    assert len(stages["selection"].examples) == 2 and stages["selection"].dialogues == ["d1", "d2"]
    final = stages["final"]
    assert len(final.examples) == 3 and final.dialogues == ["d1", "d2", "d3"]
    np.testing.assert_array_equal(final.vectors["title"][:, 0], [0, 0, 1])
    assert [list(t) for t in final.examples.targets] == [[1], [2], [3]]
    no_refit = Q.fit_stages(split, vectors, refit=False)
    assert no_refit["final"] is no_refit["selection"] and len(no_refit["final"].examples) == 2
    with pytest.raises(ValueError, match="cannot join"):
        train.concat(_examples([[0]], [[1]], construction="turn"))


def test_views_and_per_target_rows_by_hand():
    # Catalogue of 4; the request mentioned movie 2; targets 2 (repeat) and 0 (new).
    scores = np.array([[0.1, 0.0, 0.9, 0.5]])
    ex = _examples([[2]], [[0, 2]], construction="dialogue")
    all_view = Q.evaluate_scores(scores, ex, "all")
    assert all_view["recall@1"] == pytest.approx(0.5) and all_view["hr@10"] == 1
    # ranks: 2 first (hit), 3, 0 (hit): DCG = 1 + 1/log2(4); IDCG = 1 + 1/log2(3)
    assert all_view["ndcg@10"] == pytest.approx((1 + 0.5) / (1 + 1 / np.log2(3)))
    new_view = Q.evaluate_scores(scores, ex, "new")  # 2 removed from targets and ranking: 3 then 0
    assert new_view["recall@1"] == 0 and new_view["mrr"] == pytest.approx(0.5)
    turn = Q.evaluate_scores(scores, _examples([[2]], [[0, 2]], construction="turn"), "all")
    assert turn["n_rows"] == 2 and turn["recall@1"] == pytest.approx(0.5) and turn["mrr"] == pytest.approx(2 / 3)


def test_query_batches_interleave_tags_and_are_pure_functions_of_the_index():
    x = {"text_vector": np.arange(10, dtype=np.float32)[:, None]}
    data = Q.QueryBatches(x, [np.array([i % 3]) for i in range(10)], 3, batch_size=4, seed=0,
                          tag_x={"text_vector": np.full((5, 1), -1.0, np.float32)}, tag_movies=np.arange(5) % 3,
                          tag_batch=2)
    xb, y = data[1]
    assert y.shape == (xb["text_vector"].shape[0], 4)
    main, tag = y[:, -1] == 0, y[:, -1] == 1
    assert tag.sum() == 2 and (xb["text_vector"][tag] == -1).all()
    np.testing.assert_array_equal(y[main, :3].sum(axis=1), 1)
    np.testing.assert_array_equal(data[1][1], y)


def _write_movielens(folder, catalogue):
    folder.mkdir()
    cat = pd.read_csv(catalogue)
    pd.DataFrame({"movieId": np.arange(len(cat)) + 1, "title": cat["movieName"],
                  "genres": "Comedy"}).to_csv(folder / "movies.csv", index=False)
    pd.DataFrame({"userId": 1, "movieId": np.arange(len(cat)) + 1, "tag": [f"tag{k % 4}" for k in range(len(cat))],
                  "timestamp": 0}).to_csv(folder / "tags.csv", index=False)
    return folder


def test_tiny_run_through_the_cli_then_recommend_text(tmp_path, tiny_text_preset, capsys):
    from hncf.cli import main
    from hncf.serving.query import load_query_model, recommend_from_text

    data = R.write_synthetic_redial(tmp_path / "redial", n_dialogues=60, n_movies=16)
    unseen = R.write_synthetic_redial(tmp_path / "unseen", n_dialogues=20, n_movies=16, seed=0, malformed=False)
    ml = _write_movielens(tmp_path / "ml", data / R.CATALOGUE_FILE)
    out = tmp_path / "run"
    status = main(["reproduce", "query", "--dialogues", str(data / "dialogues.jsonl"), "--movielens", str(ml),
                   "--preset", "tiny", "--epochs", "1", "--seeds", "0,1", "--variant", "rnn,tags", "--text-encoder", str(tiny_text_preset[0]),
                   "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--quiet"])
    assert status == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["load_reports"][0]["malformed"][0]["line"] == 31
    assert report["movielens_join"]["matched"] == 16 and report["movielens_join"]["tag_examples"] == 16
    for row in ("popularity", "repetition", "cooccurrence", "text_retrieval", "rnn", "tags"):
        for view in Q.VIEWS:
            mean, sd = report["summary"][row][view]["ndcg@10"]
            assert 0 <= mean <= 1 and sd >= 0
    # With no mentioned movie left to repeat, the repetition floor is popularity.
    assert report["summary"]["repetition"]["new"] == report["summary"]["popularity"]["new"]
    assert "New movies only" in (out / "results.md").read_text()
    assert (out / "training_curves.png").stat().st_size > 0
    # The shared report schema carries the same means; every trained row was selected, then refit.
    for view in Q.VIEWS:
        assert report["protocols"][view]["models"]["tags"]["metrics"]["ndcg@10"] == \
            report["summary"]["tags"][view]["ndcg@10"][0]
    assert all(r[v]["refit"] for r in report["per_seed"] for v in ("rnn", "tags"))
    assert report["best_variant"] in ("rnn", "tags") and "minus each baseline" in (out / "results.md").read_text()
    assert set(report["paired_differences"]) == set(Q.BASELINES)

    qm = load_query_model(out / "model")
    assert qm.meta["variant"] == report["bundle"]["variant"]
    catalogue = pd.read_csv(data / R.CATALOGUE_FILE)
    title = catalogue["movieName"][3].rsplit(" (", 1)[0]
    top = recommend_from_text(qm, f"I loved {title} and @{catalogue['movieId'][5]}, something funny", k=4)
    assert list(top["rank"]) == [1, 2, 3, 4] and top["score"].is_monotonic_decreasing
    assert top.attrs["recognised"] == [catalogue["movieName"][3], catalogue["movieName"][5]]

    capsys.readouterr()
    assert main(["recommend-text", "--model", str(out / "model"), "--k", "3", "a funny movie please"]) == 0
    assert len([ln for ln in capsys.readouterr().out.splitlines() if ln.strip()[:2] in ("1.", "2.", "3.")]) == 3

    out2 = tmp_path / "run2"
    assert main(["reproduce", "query", "--dialogues", str(data / "dialogues.jsonl"), "--test-file",
                 str(unseen / "dialogues.jsonl"), "--variant", "bert", "--preset", "tiny", "--epochs", "1",
                 "--text-encoder", str(tiny_text_preset[0]), "--cache-dir", str(tmp_path / "cache"),
                 "--out", str(out2), "--quiet"]) == 0
    r2 = json.loads((out2 / "metrics.json").read_text())
    dialogues, _ = R.read_dialogues(unseen / "dialogues.jsonl")
    expected = len(R.build_examples(dialogues, R.read_catalogue(data / R.CATALOGUE_FILE)))
    assert r2["splits"][0]["examples"]["test"]["examples"] == expected  # every unseen dialogue, none split off
    assert r2["summary"]["bert"]["all"]["ndcg@10"][0] >= 0


def test_cli_errors_name_the_file(tmp_path, capsys):
    from hncf.cli import main

    status = main(["reproduce", "query", "--dialogues", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o"),
                   "--quiet"])
    assert status == 1 and "missing.jsonl" in capsys.readouterr().err
    assert main(["recommend-text", "--model", str(tmp_path), "hi"]) == 1
    assert "not a query model folder" in capsys.readouterr().err


def test_resume_continues_both_stages_to_the_same_metrics(tmp_path, tiny_text_preset):
    from hncf.cli import main

    data = R.write_synthetic_redial(tmp_path / "redial", n_dialogues=40, n_movies=12, malformed=False)
    args = ["reproduce", "query", "--dialogues", str(data / "dialogues.jsonl"), "--variant", "bert", "--preset", "tiny",
            "--epochs", "2", "--text-encoder", str(tiny_text_preset[0]), "--cache-dir", str(tmp_path / "cache"),
            "--quiet"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    # A second run resuming from the finished checkpoints (selection and refit) trains nothing new.
    assert main([*args, "--out", str(tmp_path / "a"), "--resume"]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a, b = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in "ab")
    assert a["per_seed"][0]["bert"]["all"] == b["per_seed"][0]["bert"]["all"]
    assert (tmp_path / "a" / "checkpoints" / "seed0-bert" / "refit" / "state.json").is_file()
