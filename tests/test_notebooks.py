"""Notebooks stay thin: they import from hncf and define no functions or classes."""

import json
import os
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
KERNELS = Path(__file__).resolve().parents[1] / "kaggle_kernels"


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ has no .ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_defines_no_function_or_class(path):
    nb = json.loads(path.read_text())
    for n, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            src = "".join(cell["source"])
            assert not re.search(r"^\s*(def|class|async\s+def)\s", src, re.M), f"{path.name} cell {n} defines code"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_one_parameters_cell(path):
    nb = json.loads(path.read_text())
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1


def test_every_kaggle_kernel_points_at_a_notebook_in_notebooks():
    metas = sorted(KERNELS.glob("*/kernel-metadata.json"))
    assert metas
    for meta_path in metas:
        meta = json.loads(meta_path.read_text())
        slug = meta_path.parent.name
        assert meta["id"].split("/")[1] == slug == meta["title"].lower().replace(" ", "-")
        code = meta_path.parent / meta["code_file"]
        assert code.exists() and code.resolve().parent.name == "notebooks", code
        assert meta["language"] == "python" and meta["kernel_type"] == "notebook"
        for key in ("is_private", "enable_gpu", "enable_internet", "dataset_sources", "model_sources"):
            assert key in meta


def test_source_dataset_is_pip_installable_layout(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_source_dataset", KERNELS / "make_source_dataset.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    dest = mod.build("someone", tmp_path, set_owner=False)
    assert (dest / "pyproject.toml").exists() and (dest / "hncf" / "__init__.py").exists()
    assert (dest / "data_generators" / "ncf.py").exists()
    assert json.loads((dest / "dataset-metadata.json").read_text())["id"] == "someone/hncf-source"
    assert not list(dest.rglob("__pycache__"))


# --- A notebook's quick run and the CLI give the same metrics for the same data and seed ---------------------------
# Each notebook is executed once (as nbval does, in a kernel that imports this tree), then the CLI runs on the
# synthetic files the notebook wrote; every metric of every row under every protocol must be equal.

REPO = Path(__file__).resolve().parents[1]


def _execute_quick(name: str, cwd: Path, monkeypatch) -> None:
    nbformat = pytest.importorskip("nbformat", reason="nbformat is needed to execute a notebook")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is needed to execute a notebook")
    monkeypatch.setenv("HNCF_QUICK", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("HNCF_DATA_DIR", raising=False)
    nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}}).execute()


def _metrics(report: dict) -> dict:
    return {(protocol, row): r["metrics"] for protocol, p in report["protocols"].items()
            for row, r in p["models"].items()}


def _assert_same_metrics(notebook: dict, cli: dict) -> None:
    ours, theirs = _metrics(notebook), _metrics(cli)
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key] == theirs[key], f"{key}: notebook {ours[key]} != CLI {theirs[key]}"
    for protocol, p in notebook["protocols"].items():
        sizes = ("n_users", "n_items", "n_train", "n_test")
        assert {k: p[k] for k in sizes} == {k: cli["protocols"][protocol][k] for k in sizes}


def test_notebook_01_quick_metrics_equal_the_cli(tmp_path, monkeypatch):
    from hncf.cli import main

    _execute_quick("01_ncf_movielens100k.ipynb", tmp_path, monkeypatch)
    run_dir = tmp_path / "runs" / "ncf-ml-100k-tiny"
    notebook = json.loads((run_dir / "metrics.json").read_text())
    assert notebook["preset"] == "tiny" and notebook["seed"] == 0
    assert main(["reproduce", "ncf", "--dataset", "ml-100k", "--data-dir", str(run_dir / "quick-data" / "ml-100k"),
                 "--preset", "tiny", "--seed", "0", "--out", str(tmp_path / "cli"), "--quiet"]) == 0
    cli = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    _assert_same_metrics(notebook, cli)
    assert set(notebook["protocols"]) == {"chrono", "loo"}


def test_notebook_02_quick_metrics_equal_the_cli(tmp_path, monkeypatch):
    from hncf.cli import main
    from hncf.experiments.quick import minilm_path

    monkeypatch.setenv("HNCF_CACHE_DIR", str(tmp_path / "notebook-cache"))
    _execute_quick("02_hncf_movielens.ipynb", tmp_path, monkeypatch)
    run_dir = tmp_path / "runs" / "hncf-ml-latest-small-tiny-cached"
    notebook = json.loads((run_dir / "metrics.json").read_text())
    # A cache of its own, so the CLI encodes the texts and posters again rather than reading the notebook's vectors.
    monkeypatch.setenv("HNCF_CACHE_DIR", str(tmp_path / "cli-cache"))
    quick = run_dir / "quick-data"
    assert main(["reproduce", "hncf", "--dataset", "ml-latest-small", "--data-dir", str(quick / "ml-latest-small"),
                 "--posters", str(quick / "posters"), "--text-encoder", minilm_path(), "--text-pooling", "mean",
                 "--image-weights", "none", "--preset", "tiny", "--seed", "0", "--out", str(tmp_path / "cli"),
                 "--quiet"]) == 0
    cli = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    _assert_same_metrics(notebook, cli)
    assert set(notebook["protocols"]["loo"]["models"]) == {"ncf", "bert_ncf", "hncf", "hncf_flag_only"}
    for key in ("text_encoder", "poster_encoder", "poster_share"):
        assert notebook[key] == cli[key], key
    counts = ("items", "with_file", "missing", "unreadable", "used")  # the decoding summary names paths, which differ
    assert {k: notebook["posters"][k] for k in counts} == {k: cli["posters"][k] for k in counts}
