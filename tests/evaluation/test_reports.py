"""Markdown tables, training-curve PNGs and atomic JSON."""

import json

import numpy as np
import pytest

from hncf.evaluation import comparison_table, markdown_table, plot_metric_bars, plot_training_curves, write_json


def test_markdown_table_formats_cells():
    rows = [
        {"model": "NeuMF", "hr@10": 0.72834, "n": np.int64(6040)},
        {"model": "GMF|pre", "hr@10": np.float32(0.5), "n": 3},
        {"model": "MLP"},
    ]
    table = markdown_table(rows, ["model", "hr@10", "n"], headers=["model", "HR@10", "users"])
    assert table == (
        "| model | HR@10 | users |\n"
        "|:---|---:|---:|\n"
        "| NeuMF | 0.7283 | 6040 |\n"
        "| GMF\\|pre | 0.5000 | 3 |\n"
        "| MLP |  |  |\n"
    )


def test_markdown_table_custom_format_and_nan():
    table = markdown_table([{"x": float("nan"), "y": 1 / 3}], ["x", "y"], float_format="{:.2f}", missing="-")
    assert table.splitlines()[-1] == "| - | 0.33 |"


def test_markdown_table_header_count_checked():
    with pytest.raises(ValueError, match="2 headers for 1 columns"):
        markdown_table([], ["a"], headers=["a", "b"])


def test_comparison_table_side_by_side():
    paper = {"hr@10": (0.726, 0.730), "ndcg@10": 0.447, "map": "about 0.048"}
    ours = {"hr@10": 0.71, "ndcg@10": np.float64(0.4321), "map": 0.05}
    table = comparison_table(ours, paper, ["hr@10", "ndcg@10", "map"])
    lines = table.splitlines()
    assert lines[0] == "| metric | paper | ours | ours - paper |"
    assert lines[2] == "| hr@10 | 0.7260-0.7300 | 0.7100 |  |"
    assert lines[3] == "| ndcg@10 | 0.4470 | 0.4321 | -0.0149 |"
    assert lines[4] == "| map | about 0.048 | 0.0500 |  |"
    assert "ours - paper" not in comparison_table(ours, paper, ["map"], diff=False)


def test_plot_training_curves_writes_png(tmp_path):
    history = {
        "GMF": {"loss": [0.6, 0.4, 0.35], "val_ndcg@10": [0.30, 0.38, 0.40]},
        "NeuMF": {"loss": [0.55, 0.36, 0.30], "val_ndcg@10": [0.33, 0.41, 0.44]},
    }
    path = plot_training_curves(history, tmp_path / "plots" / "curves.png", title="ML-1M")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 1000


def test_plot_metric_bars_writes_png_and_rejects_nothing_to_plot(tmp_path):
    rows = {"NCF": {"HR@10": (0.74, 0.01), "cold HR@10": (0.15, 0.02)}, "HNCF": {"HR@10": (0.77, 0.01)}}
    data = plot_metric_bars(rows, tmp_path / "bars.png", title="3 seeds").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    with pytest.raises(ValueError, match="empty"):
        plot_metric_bars({}, tmp_path / "none.png")


def test_plot_training_curves_rejects_empty_history(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        plot_training_curves({}, tmp_path / "x.png")


def test_write_json_numpy_and_atomic(tmp_path):
    path = tmp_path / "out" / "metrics.json"
    obj = {
        "hr@10": np.float32(0.5),
        "n_users": np.int64(943),
        "ranks": np.array([1, 2, 3]),
        "flag": np.bool_(True),
        "nan": float("nan"),
        "nested": {"k": (10, np.float64(0.25))},
        "path": tmp_path,
    }
    write_json(path, obj)
    loaded = json.loads(path.read_text())
    assert loaded == {
        "hr@10": 0.5,
        "n_users": 943,
        "ranks": [1, 2, 3],
        "flag": True,
        "nan": None,
        "nested": {"k": [10, 0.25]},
        "path": str(tmp_path),
    }
    assert sorted(p.name for p in path.parent.iterdir()) == ["metrics.json"]


def test_write_json_failure_keeps_old_file(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"a": 1})
    with pytest.raises(TypeError, match="object"):
        write_json(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
