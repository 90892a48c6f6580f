"""Result tables (Markdown), training-curve plots (PNG) and atomic JSON output."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["format_value", "markdown_table", "comparison_table", "build_training_curves", "plot_training_curves",
           "build_metric_bars", "plot_metric_bars", "run_colours", "metric_label", "write_json"]


def format_value(value: Any, float_format: str = "{:.4f}", missing: str = "") -> str:
    """One table cell: floats through ``float_format``, ints as ints, ``(lo, hi)`` ranges as ``lo-hi``.

    None and NaN print as ``missing``; ``|`` in text is escaped so it cannot split a cell.
    """
    if value is None:
        return missing
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return missing if math.isnan(v) else float_format.format(v)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, (int, float, np.integer, np.floating)) for v in value
    ):
        return f"{format_value(value[0], float_format, missing)}-{format_value(value[1], float_format, missing)}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    headers: Sequence[str] | None = None,
    float_format: str = "{:.4f}",
    missing: str = "",
) -> str:
    """A GitHub Markdown table with one row per dict; keys absent from a row print as ``missing``.

    Text columns are left-aligned and columns holding only numbers right-aligned.
    """
    if headers is None:
        headers = list(columns)
    if len(headers) != len(columns):
        raise ValueError(f"{len(headers)} headers for {len(columns)} columns")
    cells = [[format_value(row.get(c), float_format, missing) for c in columns] for row in rows]

    def numeric(c: str) -> bool:
        vals = [row.get(c) for row in rows if row.get(c) is not None]
        return bool(vals) and all(
            isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
            for v in vals
        )

    align = ["---:" if numeric(c) else ":---" for c in columns]
    lines = [
        "| " + " | ".join(format_value(h) for h in headers) + " |",
        "|" + "|".join(align) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(lines) + "\n"


def comparison_table(
    ours: Mapping[str, Any],
    paper: Mapping[str, Any],
    metrics: Iterable[str],
    labels: tuple[str, str] = ("paper", "ours"),
    float_format: str = "{:.4f}",
    diff: bool = True,
) -> str:
    """Markdown table of ``metrics`` with the paper's and our values side by side.

    Paper values may be numbers, ``(lo, hi)`` ranges or text such as "about 0.69".
    With ``diff`` a column ``ours - paper`` is added where both are single numbers.
    """
    number = (int, float, np.integer, np.floating)
    # Signed deltas read better; the "+" goes into the format spec ("{:.4f}" -> "{:+.4f}").
    signed = float_format.replace("{:", "{:+", 1)
    rows = []
    for m in metrics:
        p, o = paper.get(m), ours.get(m)
        row = {"metric": m, labels[0]: p, labels[1]: o}
        if diff and isinstance(p, number) and isinstance(o, number):
            row["delta"] = signed.format(float(o) - float(p))
        rows.append(row)
    columns = ["metric", labels[0], labels[1]] + (["delta"] if diff else [])
    headers = ["metric", labels[0], labels[1]] + ([f"{labels[1]} - {labels[0]}"] if diff else [])
    return markdown_table(rows, columns, headers=headers, float_format=float_format)


def _save_png(fig, path: str | os.PathLike) -> Path:
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _new_figure(width: float, height: float):
    """A Figure on its own Agg canvas: no display needed, the caller's pyplot backend untouched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Constrained layout keeps room for a legend placed outside the axes ("outside lower center").
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def run_colours(labels: Iterable[str]) -> dict[str, str]:
    """One colour per run label, the same in every panel of a figure.

    The k-th distinct label gets the k-th colour of matplotlib's ``tab10`` (``tab20`` beyond ten
    labels, cycling beyond twenty), whichever panels it appears in: a run missing from one panel
    never shifts the colours of the others, as matplotlib's per-axes colour cycle would.
    """
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    unique = list(dict.fromkeys(labels))
    cmap = colormaps["tab10" if len(unique) <= 10 else "tab20"]
    return {label: to_hex(cmap.colors[k % len(cmap.colors)]) for k, label in enumerate(unique)}


_METRIC_NAMES = {"hr": "HR", "ndcg": "NDCG", "mrr": "MRR", "map": "MAP", "rmse": "RMSE", "mae": "MAE",
                 "auc": "AUC", "recall": "Recall", "precision": "Precision", "loss": "loss"}
# hncf.training.ValidationSet logs these keys: each user's held-out training item ranked against
# 99 sampled negatives. A validation under another protocol names its keys through metric_labels.
_SAMPLED_VALIDATION = re.compile(r"^val_(hr|ndcg)@(\d+)$")


def metric_label(key: str, metric_labels: Mapping[str, str] | None = None) -> str:
    """A readable axis label for a Keras log key: ``val_hr@10`` -> ``validation HR@10 (1 + 99 sampled)``.

    ``metric_labels`` overrides any key. Otherwise ``val_`` becomes "validation", other keys
    "training", metric names are spelled as in the papers (HR, NDCG, RMSE...), and the HR/NDCG
    keys of :class:`hncf.training.ValidationSet` name their sampled protocol.
    """
    if metric_labels and key in metric_labels:
        return metric_labels[key]
    stage, name = ("validation", key[4:]) if key.startswith("val_") else ("training", key)
    base, at, k = name.partition("@")
    pretty = _METRIC_NAMES.get(base.lower(), base) + (f"@{k}" if at else "")
    label = f"{stage} {pretty}"
    return label + " (1 + 99 sampled)" if _SAMPLED_VALIDATION.match(key) else label


def _metric_keys(history: Mapping[str, Mapping[str, Sequence[float]]], metric_key) -> list[str]:
    if metric_key is not None:
        return [metric_key] if isinstance(metric_key, str) else list(dict.fromkeys(metric_key))
    keys = list(dict.fromkeys(k for h in history.values() for k in h))
    val = [k for k in keys if k.startswith("val_") and k != "val_loss"]
    return val or (["val_loss"] if "val_loss" in keys else [])


def _split_group(label: str) -> tuple[str, str]:
    group, sep, name = label.partition("/")
    return (group, name) if sep and name else ("", label)


def build_training_curves(
    history: Mapping[str, Mapping[str, Sequence[float]]],
    loss_key: str = "loss",
    metric_key: str | Sequence[str] | None = None,
    title: str | None = None,
    metric_labels: Mapping[str, str] | None = None,
):
    """The training-curve Figure: a panel for the training loss and one per validation metric key.

    ``history`` maps a run label to a Keras-style history dict (``{"loss": [...],
    "val_hr@10": [...]}``). Each panel plots one key only, and its axis is labelled by that key
    (:func:`metric_label`, overridable through ``metric_labels``). ``metric_key`` picks the
    validation keys (one or several); None takes every ``val_*`` key other than ``val_loss``
    (else ``val_loss``). Labels of the form ``group/run`` (e.g. ``loo/MLP``, ``chrono/MLP``) put
    each group on its own row of panels, since their curves come from different splits. A run
    has one colour (:func:`run_colours`, by run name) in every panel and the figure has one
    legend, below the axes; epochs are ticked at integers only.
    """
    from matplotlib.ticker import MaxNLocator

    if not history:
        raise ValueError("history is empty: nothing to plot")
    keys = [loss_key] + [k for k in _metric_keys(history, metric_key) if k != loss_key]
    groups: dict[str, dict[str, Mapping[str, Sequence[float]]]] = {}
    for label, h in history.items():
        group, name = _split_group(label)
        groups.setdefault(group, {})[name] = h
    colours = run_colours(name for runs in groups.values() for name in runs)

    fig = _new_figure(4.6 * len(keys), 3.4 * len(groups) + 0.9)
    axes = fig.subplots(len(groups), len(keys), squeeze=False)
    handles = {}
    for row, (group, runs) in zip(axes, groups.items()):
        for ax, key in zip(row, keys):
            for name, h in runs.items():
                values = h.get(key)
                if values is not None and len(values):
                    (line,) = ax.plot(np.arange(1, len(values) + 1), values, marker=".", color=colours[name],
                                      label=name)
                    handles.setdefault(name, line)
            label = metric_label(key, metric_labels)
            if not ax.lines:
                ax.text(0.5, 0.5, f"no run logged {key!r}", ha="center", va="center", transform=ax.transAxes)
            ax.set(title=f"{group}: {label}" if group else label, xlabel="epoch", ylabel=label)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
            ax.grid(alpha=0.3)
    if handles:
        # One legend for every panel, outside the axes, so it never hides a curve.
        names = [n for n in colours if n in handles]
        fig.legend([handles[n] for n in names], names, loc="outside lower center", ncol=min(len(names), 5),
                   fontsize="small", frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def plot_training_curves(
    history: Mapping[str, Mapping[str, Sequence[float]]],
    path: str | os.PathLike,
    loss_key: str = "loss",
    metric_key: str | Sequence[str] | None = None,
    title: str | None = None,
    metric_labels: Mapping[str, str] | None = None,
) -> Path:
    """Write :func:`build_training_curves` as a PNG at ``path`` (parent folders made); returns the path."""
    return _save_png(build_training_curves(history, loss_key, metric_key, title, metric_labels), path)


def build_metric_bars(
    rows: Mapping[str, Mapping[str, tuple[float, float]]],
    title: str | None = None,
):
    """The grouped-bar Figure: one group per metric, one bar per row (colour by row label), ``± sd`` bars."""
    if not rows:
        raise ValueError("rows is empty: nothing to plot")
    metrics = list(dict.fromkeys(m for r in rows.values() for m in r))
    colours = run_colours(rows)
    width = 0.8 / len(rows)
    fig = _new_figure(max(6.0, 1.6 * len(metrics)), 4.8)
    ax = fig.subplots()
    x = np.arange(len(metrics))
    for k, (name, stats) in enumerate(rows.items()):
        means = [stats[m][0] if m in stats else np.nan for m in metrics]
        sds = [stats[m][1] if m in stats else 0.0 for m in metrics]
        ax.bar(x + (k - (len(rows) - 1) / 2) * width, means, width, yerr=sds, capsize=3, label=name,
               color=colours[name])
    ax.set_xticks(x, metrics, fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    # Below the axes: inside, the legend would hide the bars of some group.
    fig.legend(loc="outside lower center", ncol=min(len(rows), 3), fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    return fig


def plot_metric_bars(
    rows: Mapping[str, Mapping[str, tuple[float, float]]],
    path: str | os.PathLike,
    title: str | None = None,
) -> Path:
    """Write a PNG of grouped bars: one group per metric, one bar per row, ``± sd`` error bars.

    ``rows`` maps a row name to ``{metric: (mean, sd)}``; metrics missing from a row are skipped.
    For results over seeds, where a person should see at a glance which gaps exceed the noise.
    Colours follow :func:`run_colours` (see :func:`build_metric_bars`).
    """
    return _save_png(build_metric_bars(rows, title), path)


def _to_jsonable(obj: Any) -> Any:
    # Non-finite floats become null so the file stays strict JSON (json.dump would write NaN).
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _to_jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"cannot write {type(obj).__name__} to JSON: {obj!r:.80}")


def write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> Path:
    """Write ``obj`` as JSON atomically (temp file in the same folder, then ``os.replace``).

    NumPy scalars and arrays become plain numbers and lists; NaN and infinities
    become ``null``. A reader never sees a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_to_jsonable(obj), indent=indent, sort_keys=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file 0600; give it the mode any other output file gets.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
