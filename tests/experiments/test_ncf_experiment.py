"""The `reproduce ncf` pipeline and its CLI, on synthetic data and (when present) the real ML-100K."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from hncf.cli import main
from hncf.data import synthetic_interactions, write_synthetic_movielens
from hncf.experiments.ncf import paper_rows, results_markdown, run_ncf
from hncf.pipeline import prepare_chrono, prepare_loo

SHARED = Path(os.environ.get("HNCF_SHARED_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))


@pytest.fixture(scope="module")
def interactions():
    return synthetic_interactions(n_users=40, n_items=300, n_ratings=900, seed=3)


@pytest.fixture(scope="module")
def tiny_run(interactions, tmp_path_factory):
    out = tmp_path_factory.mktemp("ncf")
    report = run_ncf(dataset="synthetic", preset="tiny", out_dir=out, seed=0, progress=False,
                     interactions=interactions)
    return out, report


def test_report_files_and_protocols(tiny_run):
    out, report = tiny_run
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["system"] == "ncf" and saved["seed"] == 0 and saved["preset"] == "tiny"
    chrono, loo = saved["protocols"]["chrono"], saved["protocols"]["loo"]
    assert set(chrono["models"]) == {"Popularity", "NeuMF (paper settings)", "NeuMF (hncf)"}
    assert {"map", "map@10", "ndcg@10", "precision@10", "recall@10"} <= set(chrono["models"]["NeuMF (hncf)"]["metrics"])
    assert set(loo["models"]) == {"Popularity", "GMF", "MLP", "NeuMF", "MF (dot product + biases)",
                                  "NeuMF (GMF+MLP pretrained)"}
    for row in loo["models"].values():
        assert 0.0 <= row["metrics"]["hr@10"] <= 1.0
        assert row["metrics"]["n_users"] == loo["n_test"]
    neumf = loo["models"]["NeuMF"]
    assert neumf["examples_per_second"] > 0 and neumf["best_epoch"] >= 1
    # Selected on validation, then refit on all training data: both stages are counted.
    assert neumf["refit"] and neumf["train_seconds"] == pytest.approx(
        neumf["selection_seconds"] + neumf["refit_seconds"])
    assert not chrono["models"]["NeuMF (paper settings)"]["validated"]
    md = (out / "results.md").read_text()
    # No published number belongs beside a synthetic dataset.
    assert "NeuMF (hncf)" in md and "0.1936" not in md and "no published" in md
    assert (out / "training_curves.png").stat().st_size > 1000


def test_published_rows_follow_the_dataset_run(tiny_run):
    _, report = tiny_run
    assert paper_rows("chrono", "ml-100k")["NeuMF"]["ndcg@10"] == pytest.approx(0.193614)
    assert paper_rows("chrono", "ml-1m") == {} and paper_rows("loo", "ml-100k") == {}
    assert paper_rows("loo", "ml-1m")["NeuMF"]["hr@10"] == pytest.approx(0.730)
    for dataset, shown, hidden in (("ml-100k", "0.1936", "paper hr@10"), ("ml-1m", "paper hr@10", "0.1936")):
        relabelled = {**report, "dataset": dataset,
                      "protocols": {p: {**v, "paper": paper_rows(p, dataset)} for p, v in report["protocols"].items()}}
        md = results_markdown(relabelled)
        assert shown in md and hidden not in md, dataset


def test_test_negatives_are_sampled_once_and_reused(tiny_run, interactions):
    out, _ = tiny_run
    path = out / "test_negatives_synthetic_seed0.npz"
    first = path.read_bytes()
    split = prepare_loo(interactions, 0, path)
    assert path.read_bytes() == first
    assert split.test_negatives.shape == (len(split.test), 99)
    test_items = split.test["item"].to_numpy()
    assert not (split.test_negatives == test_items[:, None]).any()


def test_validation_comes_from_training_data_only(interactions):
    split = prepare_chrono(interactions, 0)
    key = lambda df: set(zip(df["user"], df["item"]))  # noqa: E731
    val = set(zip(split.validation.users, split.validation.items))
    assert val <= key(split.full_train)
    assert not val & key(split.train)
    assert not val & key(split.test)


def test_cli_runs_on_a_dataset_folder_in_the_real_format(tmp_path):
    data_dir = write_synthetic_movielens(tmp_path / "ml-100k", "ml-100k", n_users=25, n_items=300, n_ratings=500)
    out = tmp_path / "run"
    code = main(["reproduce", "ncf", "--dataset", "ml-100k", "--data-dir", str(data_dir), "--preset", "tiny",
                 "--protocols", "chrono", "--out", str(out), "--quiet"])
    assert code == 0
    assert "chrono" in json.loads((out / "metrics.json").read_text())["protocols"]


@pytest.mark.parametrize("args, message", [
    (["--dataset", "ml-100k", "--data-dir", "/nonexistent/ml-100k"], "/nonexistent/ml-100k"),
])
def test_cli_errors_are_one_clear_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HNCF_CACHE_DIR", str(tmp_path / "cache"))
    code = main(["reproduce", "ncf", *args, "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("hncf: error:") and message in err[0]


@pytest.mark.real_data
def test_real_ml100k_splits_match_the_recommenders_notebook():
    folder = SHARED / "ml-100k"
    if not (folder / "u.data").exists():
        pytest.skip(f"real ML-100K not found at {folder} (set HNCF_SHARED_DATA)")
    from hncf.data import load_movielens

    d = load_movielens("ml-100k", data_dir=folder, progress=False)
    chrono = prepare_chrono(d.interactions, 0)
    assert len(chrono.full_train) == 74_992  # Recommenders' NCF notebook: 74,992 training rows
    assert len(chrono.test) == 24_891
    loo = prepare_loo(d.interactions, 0, None)
    # 3 of the 943 users' latest items were rated by nobody before: no trained embedding can score them.
    assert len(loo.test) == 940 and loo.test_negatives.shape == (940, 99)
    assert len(loo.users) == 943 and len(loo.full_train) == 100_000 - 943


def test_resume_reuses_finished_rows_with_their_seconds_and_refuses_another_seed(interactions, tmp_path, capsys):
    first = run_ncf(dataset="synthetic", preset="tiny", out_dir=tmp_path, seed=0, protocols=("loo",), progress=False,
                    interactions=interactions)
    again = run_ncf(dataset="synthetic", preset="tiny", out_dir=tmp_path, seed=0, protocols=("loo",), resume=True,
                    interactions=interactions)
    assert "resumed GMF from its checkpoint" in capsys.readouterr().out
    for label, row in first["protocols"]["loo"]["models"].items():
        resumed = again["protocols"]["loo"]["models"][label]
        assert resumed["metrics"] == row["metrics"], label
        if label != "Popularity":
            assert resumed["resumed"] and resumed["train_seconds"] == pytest.approx(row["train_seconds"])
    from hncf.training import CheckpointError

    with pytest.raises(CheckpointError, match="differs in seed"):
        run_ncf(dataset="synthetic", preset="tiny", out_dir=tmp_path, seed=1, protocols=("loo",), resume=True,
                progress=False, interactions=interactions)


def test_a_corrupt_saved_negatives_file_is_resampled_to_the_same_negatives(interactions, tmp_path):
    path = tmp_path / "neg.npz"
    first = prepare_loo(interactions, 0, path)
    path.write_bytes(path.read_bytes()[:40])
    again = prepare_loo(interactions, 0, path)
    np.testing.assert_array_equal(again.test_negatives, first.test_negatives)
    assert path.stat().st_size > 40
