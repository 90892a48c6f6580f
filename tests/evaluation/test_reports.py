"""Markdown tables, training-curve PNGs and atomic JSON."""

import json

import matplotlib
import numpy as np
import pytest

from hncf.evaluation import comparison_table, markdown_table, plot_metric_bars, plot_training_curves, write_json
from hncf.evaluation.reports import build_metric_bars, build_training_curves, metric_label, run_colours


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


def _line_colours(fig) -> list[dict[str, str]]:
    """Per axes: run label -> colour of its line, as drawn."""
    from matplotlib.colors import to_hex

    return [{line.get_label(): to_hex(line.get_color()) for line in ax.lines} for ax in fig.axes]


def test_training_curves_give_a_run_one_colour_in_every_panel():
    # GMF has no loss and NeuMF no validation metric: with matplotlib's per-axes colour cycle MLP was
    # drawn in the first colour on the left and the second on the right.
    history = {
        "GMF": {"val_hr@10": [0.30, 0.38]},
        "MLP": {"loss": [0.55, 0.36], "val_hr@10": [0.33, 0.41]},
        "NeuMF": {"loss": [0.6, 0.4]},
    }
    fig = build_training_curves(history, metric_key="val_hr@10")
    loss_panel, val_panel = _line_colours(fig)
    assert sorted(loss_panel) == ["MLP", "NeuMF"] and sorted(val_panel) == ["GMF", "MLP"]
    assert loss_panel["MLP"] == val_panel["MLP"] == run_colours(history)["MLP"]
    assert len(set(run_colours(history).values())) == 3
    # One legend for the figure, below the axes and listing each run once; none inside a panel.
    assert all(ax.get_legend() is None for ax in fig.axes)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["GMF", "MLP", "NeuMF"]
    fig.canvas.draw()
    legend_top = legend.get_window_extent().y1
    assert all(legend_top <= ax.get_window_extent().y0 for ax in fig.axes)


def test_training_curves_tick_whole_epochs_only():
    for n_epochs in (1, 2, 3, 7):
        fig = build_training_curves({"GMF": {"loss": list(np.linspace(1, 0.5, n_epochs)),
                                             "val_hr@10": list(np.linspace(0.2, 0.4, n_epochs))}})
        fig.canvas.draw()
        for ax in fig.axes:
            lo, hi = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
            assert ticks and all(float(t).is_integer() for t in ticks), (n_epochs, ticks)


def test_training_curves_plot_one_metric_key_per_panel_labelled_by_that_key():
    history = {"GMF": {"loss": [0.6, 0.4], "val_hr@10": [0.3, 0.4], "val_ndcg@10": [0.2, 0.25],
                       "val_loss": [0.7, 0.6]}}
    fig = build_training_curves(history)  # every val_* metric except val_loss, one panel each
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "training loss", "validation HR@10 (1 + 99 sampled)", "validation NDCG@10 (1 + 99 sampled)"]
    np.testing.assert_allclose(fig.axes[2].lines[0].get_ydata(), [0.2, 0.25])
    only = build_training_curves(history, metric_key="val_hr@10",
                                 metric_labels={"val_hr@10": "validation HR@10 (full ranking)"})
    assert [ax.get_ylabel() for ax in only.axes] == ["training loss", "validation HR@10 (full ranking)"]
    rmse = build_training_curves({"MF": {"loss": [1.0, 0.9], "val_loss": [1.1, 1.0]}})
    assert [ax.get_ylabel() for ax in rmse.axes] == ["training loss", "validation loss"]


def test_training_curves_put_each_label_group_on_its_own_row():
    history = {"chrono/MLP": {"loss": [0.6, 0.4], "val_hr@10": [0.3, 0.4]},
               "loo/GMF": {"loss": [0.5, 0.3], "val_hr@10": [0.5, 0.6]},
               "loo/MLP": {"loss": [0.55, 0.35], "val_hr@10": [0.45, 0.55]}}
    fig = build_training_curves(history, metric_key="val_hr@10")
    assert [ax.get_title() for ax in fig.axes] == [
        "chrono: training loss", "chrono: validation HR@10 (1 + 99 sampled)",
        "loo: training loss", "loo: validation HR@10 (1 + 99 sampled)"]
    colours = _line_colours(fig)
    assert colours[0]["MLP"] == colours[1]["MLP"] == colours[2]["MLP"] == colours[3]["MLP"]
    assert colours[2]["GMF"] != colours[2]["MLP"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["MLP", "GMF"]
    # A panel no run logged says so instead of staying blank.
    empty = build_training_curves({"GMF": {"loss": [0.5]}}, metric_key="val_hr@10")
    assert [t.get_text() for t in empty.axes[1].texts] == ["no run logged 'val_hr@10'"]


def test_metric_label_names():
    assert metric_label("val_hr@10") == "validation HR@10 (1 + 99 sampled)"
    assert metric_label("val_ndcg@5") == "validation NDCG@5 (1 + 99 sampled)"
    assert metric_label("val_recall@10") == "validation Recall@10"
    assert metric_label("val_rmse") == "validation RMSE"
    assert metric_label("loss") == "training loss"
    assert metric_label("val_hr@10", {"val_hr@10": "mine"}) == "mine"


def test_run_colours_are_distinct_and_follow_first_appearance():
    assert run_colours(["a", "b", "a"]) == {"a": "#1f77b4", "b": "#ff7f0e"}  # tab10's first two
    many = run_colours(f"run {k}" for k in range(15))
    assert len(set(many.values())) == 15


def test_metric_bars_colour_each_row_label_alike_across_groups():
    from matplotlib.colors import to_hex
    from matplotlib.container import BarContainer

    rows = {"NCF": {"HR@10": (0.74, 0.01), "cold HR@10": (0.15, 0.02)}, "HNCF": {"HR@10": (0.77, 0.01)},
            "HNCF text": {"HR@10": (0.76, 0.01), "cold HR@10": (0.2, 0.02)}}
    fig = build_metric_bars(rows)
    (ax,) = fig.axes
    by_label = {c.get_label(): {to_hex(p.get_facecolor()) for p in c.patches}
                for c in ax.containers if isinstance(c, BarContainer)}
    assert by_label == {name: {colour} for name, colour in run_colours(rows).items()}
    assert fig.legends and ax.get_legend() is None


def test_plots_leave_the_pyplot_backend_alone(tmp_path):
    backend = matplotlib.get_backend()
    plot_training_curves({"GMF": {"loss": [0.5, 0.4]}}, tmp_path / "c.png")
    assert matplotlib.get_backend() == backend


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
