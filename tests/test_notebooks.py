"""Notebooks stay thin: they import from hncf and define no functions or classes."""

import json
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
