"""Result tables (Markdown), training-curve plots (PNG) and atomic JSON output."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["format_value", "markdown_table", "comparison_table", "plot_training_curves", "write_json"]


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
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def plot_training_curves(
    history: Mapping[str, Mapping[str, Sequence[float]]],
    path: str | os.PathLike,
    loss_key: str = "loss",
    metric_key: str | None = None,
    title: str | None = None,
) -> Path:
    """Write a PNG with two panels: training loss per epoch and a validation metric per epoch.

    ``history`` maps a model name to a Keras-style history dict (``{"loss": [...],
    "val_ndcg@10": [...]}``); each model is one line in each panel. When
    ``metric_key`` is None the first ``val_*`` key other than ``val_loss`` is used
    (else ``val_loss``). Uses the Agg canvas directly, so it neither needs a
    display nor changes the pyplot backend of the calling notebook.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not history:
        raise ValueError("history is empty: nothing to plot")
    if metric_key is None:
        keys = [k for h in history.values() for k in h]
        val = [k for k in keys if k.startswith("val_") and k != "val_loss"]
        metric_key = val[0] if val else ("val_loss" if "val_loss" in keys else None)

    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax_loss, ax_val = fig.subplots(1, 2)
    for name, h in history.items():
        if loss_key in h and len(h[loss_key]):
            ax_loss.plot(np.arange(1, len(h[loss_key]) + 1), h[loss_key], marker=".", label=name)
        if metric_key is not None and metric_key in h and len(h[metric_key]):
            ax_val.plot(np.arange(1, len(h[metric_key]) + 1), h[metric_key], marker=".", label=name)
    ax_loss.set(title=f"training {loss_key}", xlabel="epoch", ylabel=loss_key)
    ax_val.set(
        title=f"validation {metric_key}" if metric_key else "no validation metric",
        xlabel="epoch",
        ylabel=metric_key or "",
    )
    for ax in (ax_loss, ax_val):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return _save_png(fig, path)


def plot_metric_bars(
    rows: Mapping[str, Mapping[str, tuple[float, float]]],
    path: str | os.PathLike,
    title: str | None = None,
) -> Path:
    """Write a PNG of grouped bars: one group per metric, one bar per row, ``± sd`` error bars.

    ``rows`` maps a row name to ``{metric: (mean, sd)}``; metrics missing from a row are skipped.
    For results over seeds, where a person should see at a glance which gaps exceed the noise.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not rows:
        raise ValueError("rows is empty: nothing to plot")
    metrics = list(dict.fromkeys(m for r in rows.values() for m in r))
    width = 0.8 / len(rows)
    fig = Figure(figsize=(max(6.0, 1.6 * len(metrics)), 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    x = np.arange(len(metrics))
    for k, (name, stats) in enumerate(rows.items()):
        means = [stats[m][0] if m in stats else np.nan for m in metrics]
        sds = [stats[m][1] if m in stats else 0.0 for m in metrics]
        ax.bar(x + (k - (len(rows) - 1) / 2) * width, means, width, yerr=sds, capsize=3, label=name)
    ax.set_xticks(x, metrics, fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    # Below the axes: inside, the legend would hide the bars of some group.
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(len(rows), 2))
    if title:
        ax.set_title(title)
    return _save_png(fig, path)


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
