"""Mean ± sd over seeds, and paired differences between rows within a seed, for any system's reports.

Every report has one schema (see :mod:`hncf.pipeline.report`):
``report["protocols"][protocol]["models"][row]["metrics"][metric]``, so one summary serves all.
"""

from __future__ import annotations

import numpy as np

Column = tuple[str, str, str]  # (column label, protocol, metric)


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
