"""Mean ± sd over seeds, and paired differences between rows within a seed, for any system's reports.

Every report has one schema (see :mod:`hncf.pipeline.report`):
``report["protocols"][protocol]["models"][row]["metrics"][metric]``, so one summary serves all.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from hncf.evaluation.reports import markdown_table

Column = tuple[str, str, str]  # (column label, protocol, metric)
# Per-row entries of a summary that are not metric columns.
_NOT_COLUMNS = ("train_seconds", "best_epoch")


def metric_value(report: dict, protocol: str, row: str, metric: str) -> float:
    """One number of a report (NaN when the row or protocol was not run)."""
    models = report.get("protocols", {}).get(protocol, {}).get("models", {})
    value = models.get(row, {}).get("metrics", {}).get(metric)
    return float("nan") if value is None else float(value)


def _stat(values) -> dict:
    v = np.asarray(values, dtype=float)
    return {"values": v.tolist(), "mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0}


def summarise_seeds(reports: list[dict], columns: list[Column], rows: list[str],
                    pairs: list[tuple[str, str, str]] = (), time_protocol: str | None = None) -> dict:
    """Per row and column the per-seed values with mean and sample sd; the same for ``pairs``.

    ``pairs`` are ``(row a, row b, description)``: a - b within each seed (same split and negatives),
    which is far less noisy than comparing the two means. Rows missing from any report are left out.
    """
    seeds = [r["seed"] for r in reports]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"reports repeat a seed: {seeds}")
    first_protocol = columns[0][1]
    present = [row for row in rows if all(row in r["protocols"].get(first_protocol, {}).get("models", {})
                                          for r in reports)]
    out = {}
    for row in present:
        out[row] = {col: _stat([metric_value(r, p, row, m) for r in reports]) for col, p, m in columns}
        tp = time_protocol or first_protocol
        out[row]["train_seconds"] = _stat([r["protocols"][tp]["models"][row].get("train_seconds", np.nan)
                                           for r in reports])
        out[row]["best_epoch"] = [r["protocols"][tp]["models"][row].get("best_epoch") for r in reports]
    diffs = {}
    for a, b, what in pairs:
        if a in out and b in out:
            diffs[what] = {col: _stat(np.array(out[a][col]["values"]) - np.array(out[b][col]["values"]))
                           for col, _, _ in columns}
    return {"seeds": seeds, "rows": out, "paired_differences": diffs}


def cell(stat: dict, digits: int = 3) -> str:
    """``mean ± sd`` for a table."""
    return f"{stat['mean']:.{digits}f} ± {stat['sd']:.{digits}f}"


def summary_columns(summary: dict) -> list[str]:
    """The metric columns of a :func:`summarise_seeds` summary, in its order."""
    rows = summary["rows"]
    return [c for c in rows[next(iter(rows))] if c not in _NOT_COLUMNS] if rows else []


def seeds_markdown(summary: dict, columns: Sequence[str] | None = None, *, label: Callable[[str], str] | None = None,
                   beside: Callable[[str], dict] | None = None, extra_rows: Sequence[dict] = (),
                   order: Sequence[str] | None = None, train_seconds: bool = False, digits: int = 3,
                   note: str | None = None,
                   differences: str = "Paired differences within a seed (same split, same negatives):") -> str:
    """A :func:`summarise_seeds` summary as markdown: the mean ± sd table, then the paired differences.

    One row per summarised row, named ``label(row)`` (default: the row key), with a ``mean ± sd`` cell
    per column of ``columns`` (default: every metric of the summary); ``beside(row)`` adds cells of
    its own (e.g. a paper's numbers for that row) and ``train_seconds`` a ``train s`` column (mean).
    ``extra_rows`` are appended as they are (e.g. published rows, keyed by column). ``order`` is the
    header (default ``model``, the columns, then ``train s``). ``note`` is a paragraph under the table
    (e.g. where published numbers come from). The differences table (under the ``differences`` line)
    has the same metric columns and is left out when the summary has none.
    """
    cols = list(columns) if columns is not None else summary_columns(summary)
    rows = []
    for name, stats in summary["rows"].items():
        row = {"model": label(name) if label else name, **(beside(name) if beside else {}),
               **{c: cell(stats[c], digits) for c in cols}}
        if train_seconds:
            row["train s"] = f"{stats['train_seconds']['mean']:.0f}"
        rows.append(row)
    rows += [dict(r) for r in extra_rows]
    header = list(order) if order is not None else ["model", *cols, *(["train s"] if train_seconds else [])]
    parts = [markdown_table(rows, header)]
    if note:
        parts.append(f"\n{note}")
    diffs = summary.get("paired_differences") or {}
    if diffs:
        drows = [{"difference": what, **{c: cell(d[c], digits) for c in cols}} for what, d in diffs.items()]
        parts += [f"\n{differences}\n", markdown_table(drows, ["difference", *cols])]
    return "\n".join(parts)


def seed_runs_from_args(argv, description: str, command: str, default_out: str) -> tuple[list[dict], Path]:
    """The command line of a seed-summary benchmark: run folders in, their reports and ``--out`` back.

    ``command`` (e.g. ``"reproduce hncf"``) names what wrote the folders; a folder without a
    ``metrics.json`` is a usage error (exit status 2) that says so.
    """
    p = argparse.ArgumentParser(description=description)
    p.add_argument("runs", nargs="+", help=f"output folders of `{command}` (each with metrics.json)")
    p.add_argument("--out", default=default_out, help=f"summary JSON (default {default_out}); .md beside it")
    args = p.parse_args(argv)
    reports = []
    for run in args.runs:
        path = Path(run) / "metrics.json"
        if not path.exists():
            p.error(f"{path} not found: is {run} the output folder of a finished `{command}` run?")
        reports.append(json.loads(path.read_text()))
    return reports, Path(args.out)
