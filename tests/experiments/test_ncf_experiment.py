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


def test_resume_under_another_preset_is_refused_through_the_cli(tmp_path, capsys, monkeypatch):
    """The preset fixes every row's sizes and training: a checkpoint of one must never continue as another.

    A tiny run is interrupted (Ctrl-C) once its first trained row (GMF) is done; resuming it under the
    default preset must be refused. Without the preset in the fingerprint the default run would pick
    up the tiny GMF's finished checkpoints and report them, silently, as the default preset's GMF.
    """
    from hncf.experiments import ncf

    data_dir = write_synthetic_movielens(tmp_path / "ml-100k", "ml-100k", n_users=25, n_items=300, n_ratings=500)
    out = tmp_path / "run"
    args = ["reproduce", "ncf", "--dataset", "ml-100k", "--data-dir", str(data_dir), "--protocols", "loo",
            "--epochs", "1", "--out", str(out), "--quiet"]
    real, rows = ncf.evaluate_protocol, []

    def ctrl_c_after_the_first_trained_row(protocol, score_fn, split):
        rows.append(protocol)
        if len(rows) == 2:  # Popularity, then GMF
            raise KeyboardInterrupt
        return real(protocol, score_fn, split)

    monkeypatch.setattr(ncf, "evaluate_protocol", ctrl_c_after_the_first_trained_row)
    assert main([*args, "--preset", "tiny"]) == 130
    monkeypatch.setattr(ncf, "evaluate_protocol", real)
    capsys.readouterr()
    assert main([*args, "--preset", "default", "--resume"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another run configuration (differs in preset: preset='tiny'" in err[0], err
    assert not (out / "metrics.json").exists()


def test_a_corrupt_saved_negatives_file_is_resampled_to_the_same_negatives(interactions, tmp_path):
    path = tmp_path / "neg.npz"
    first = prepare_loo(interactions, 0, path)
    path.write_bytes(path.read_bytes()[:40])
    again = prepare_loo(interactions, 0, path)
    np.testing.assert_array_equal(again.test_negatives, first.test_negatives)
    assert path.stat().st_size > 40


# --- presets and the predictive-factor sweep (issue 11) ---

from hncf.commands import ncf as ncf_command  # noqa: E402
from hncf.experiments.ncf import (  # noqa: E402
    PRESETS,
    RENDLE_LABEL,
    ModelSpec,
    NCFRun,
    _loo_specs,
    _sweep_specs,
    fit_row,
    he_tower,
    sweep_label,
)
from hncf.training import TrainConfig  # noqa: E402


def test_cli_preset_choices_match_the_experiment():
    assert set(ncf_command.PRESETS) == set(PRESETS)


def test_he_tower_follows_their_code():
    assert he_tower(8) == (64, 32, 16, 8)  # NCF code: --factors 8 --layers [64,32,16,8]
    assert he_tower(64) == (512, 256, 128, 64)


def test_ml1m_preset_resolves_to_the_papers_rows():
    specs = {s.label: s for s in _loo_specs(PRESETS["ml-1m"], None)}
    assert list(specs) == ["Popularity", "GMF", "MLP", "NeuMF", "NeuMF (GMF+MLP pretrained)", RENDLE_LABEL]
    f = specs["GMF"].sizes["n_factors"]
    assert specs["MLP"].sizes["layers"] == he_tower(f)
    assert specs["NeuMF (GMF+MLP pretrained)"].sizes == {"n_factors": f, "layers": he_tower(f)}
    mf = specs[RENDLE_LABEL]
    assert mf.kind == "mf" and mf.sizes["n_factors"] >= 64 and mf.train.n_neg > 4
    assert mf.sizes.get("l2", 0) > 0 or mf.sizes.get("l2_example", 0) > 0
    assert all(s.validate for s in specs.values() if s.kind != "popularity")
    # --epochs overrides every row's budget, nothing else.
    short = {s.label: s for s in _loo_specs(PRESETS["ml-1m"], 3)}
    assert short[RENDLE_LABEL].train.epochs == 3 and short[RENDLE_LABEL].train.n_neg == mf.train.n_neg


def test_default_presets_keep_their_family():
    specs = _loo_specs(PRESETS["default"], None)
    assert [s.kind for s in specs] == ["popularity", "gmf", "mlp", "neumf", "mf", "neumf_pretrained"]
    assert specs[1].sizes == {"n_factors": 8} and specs[2].sizes == {"layers": (64, 32, 16, 8)}
    assert specs[4].train.n_neg == 4 and "l2" not in specs[4].sizes


def test_rendle_mf_row_trains_with_its_settings(interactions, tmp_path):
    split = prepare_loo(interactions, 0, None)
    rendle = {s.label: s for s in _loo_specs(PRESETS["ml-1m"], None)}[RENDLE_LABEL]
    spec = ModelSpec(RENDLE_LABEL, "mf", {**rendle.sizes, "n_factors": 12},
                     TrainConfig(epochs=1, batch_size=512, n_neg=rendle.train.n_neg, learning_rate=4e-3))
    _, record = fit_row(spec, split, 0, None, False, {}, 0, bundle_dir=tmp_path / "b")
    n_pos = len(split.train)  # the selection stage trains without the validation items
    assert record["config"]["n_neg"] == rendle.train.n_neg
    assert record["rows_per_epoch"] == len(split.full_train) * (1 + rendle.train.n_neg)
    assert n_pos < len(split.full_train)
    assert record["sizes"]["n_factors"] == 12
    for key in ("l2", "l2_example"):
        assert record["sizes"].get(key, 0) == rendle.sizes.get(key, 0)
    import keras

    model = keras.saving.load_model(next((tmp_path / "b").rglob("*.keras")), safe_mode=True)
    emb = model.get_layer("mf_item_embedding")
    assert emb.embeddings.shape[1] == 12
    if rendle.sizes.get("l2_example"):
        assert emb.activity_regularizer.get_config()["l2"] == pytest.approx(rendle.sizes["l2_example"])


def test_per_example_l2_only_penalises_the_looked_up_rows(tmp_path):
    import keras
    import numpy as np

    from hncf.models.ncf import build_mf

    model = build_mf(5, 7, n_factors=3, l2_example=0.5, seed=0)
    users, items = np.array([0, 1], np.int32), np.array([2, 2], np.int32)
    model({"user_id": users, "item_id": items})
    p = model.get_layer("mf_user_embedding").embeddings.numpy()
    q = model.get_layer("mf_item_embedding").embeddings.numpy()
    # Keras divides an activity penalty by the batch: the mean per example of 0.5 (|p_u|^2 + |q_i|^2).
    expected = 0.5 * ((p[users] ** 2).sum() + (q[items] ** 2).sum()) / len(users)
    assert float(sum(keras.ops.convert_to_numpy(x) for x in model.losses)) == pytest.approx(expected, rel=1e-5)
    from hncf.testing import assert_model_round_trip

    reloaded = assert_model_round_trip(model, {"user_id": users, "item_id": items}, tmp_path)
    assert reloaded.get_layer("mf_user_embedding").activity_regularizer.get_config()["l2"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="l2_example"):
        build_mf(5, 7, l2_example=-1.0)


def test_sweep_specs_resize_each_kind():
    specs = _sweep_specs(PRESETS["ml-1m"], None, factors=(8, 16))
    by = {s.label: s for s in specs}
    assert list(by) == ["Popularity", "GMF (f=8)", "MLP (f=8)", "NeuMF (f=8)", "GMF (f=16)", "MLP (f=16)",
                        "NeuMF (f=16)"]
    assert by["GMF (f=16)"].sizes == {"n_factors": 16}
    assert by["MLP (f=8)"].sizes == {"layers": (64, 32, 16, 8)}
    assert by["NeuMF (f=16)"].kind == "neumf_pretrained"
    assert by["NeuMF (f=16)"].sizes == {"n_factors": 16, "layers": he_tower(16)}


def test_factor_sweep_run_writes_curves_table_and_plot(interactions, tmp_path):
    out = tmp_path / "sweep"
    report = run_ncf(dataset="synthetic", preset="tiny", out_dir=out, seed=0, progress=False, protocols=("loo",),
                     sweep="factors", epochs=1, interactions=interactions)
    factors = list(PRESETS["tiny"].sweep_factors)
    loo = json.loads((out / "metrics.json").read_text())["protocols"]["loo"]
    assert set(loo["models"]) == {"Popularity"} | {sweep_label(n, f) for f in factors for n in ("GMF", "MLP", "NeuMF")}
    sweep = loo["sweep"]
    assert sweep["factors"] == factors and set(sweep["curves"]) == {"GMF", "MLP", "NeuMF", "Popularity"}
    for name, curve in sweep["curves"].items():
        for metric in ("hr@10", "ndcg@10"):
            assert len(curve[metric]) == len(factors)
            if name != "Popularity":
                assert curve[metric] == [loo["models"][sweep_label(name, f)]["metrics"][metric] for f in factors]
    assert loo["models"][sweep_label("MLP", factors[-1])]["sizes"]["layers"] == list(he_tower(factors[-1]))
    md = (out / "results.md").read_text()
    assert "Predictive factors sweep" in md and "f=4" in md and "factor_sweep.png" in md
    png = out / sweep["plot"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert report["protocols"]["loo"]["sweep"]["factors"] == factors


def test_sweep_settings_are_checked():
    with pytest.raises(ValueError, match="unknown sweep"):
        NCFRun(sweep="layers").check()
    with pytest.raises(ValueError, match="leave-one-out"):
        NCFRun(sweep="factors", protocols=("chrono",)).check()
    assert "sweep" not in NCFRun().fingerprint() and NCFRun(sweep="factors").fingerprint()["sweep"] == "factors"


def test_cli_sweep_flag_reaches_the_run(tmp_path, monkeypatch):
    import hncf.experiments.ncf as experiment

    with pytest.raises(SystemExit):
        main(["reproduce", "ncf", "--sweep", "depth", "--out", str(tmp_path / "x"), "--quiet"])
    seen = {}
    monkeypatch.setattr(experiment, "run_ncf", lambda **kw: seen.update(kw) or {})
    code = main(["reproduce", "ncf", "--dataset", "ml-1m", "--preset", "ml-1m", "--protocols", "loo",
                 "--sweep", "factors", "--out", str(tmp_path / "run"), "--quiet"])
    assert code == 0 and seen["sweep"] == "factors" and seen["preset"] == "ml-1m" and seen["protocols"] == ("loo",)
