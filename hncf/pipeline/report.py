"""What every `reproduce` run leaves behind: metrics.json, results.md, training_curves.png."""

from __future__ import annotations

import time
from pathlib import Path

from hncf.evaluation import plot_training_curves, write_json


def log(msg: str, progress: bool) -> None:
    """One progress line on stdout (flushed, so notebooks and CI logs show it as it happens)."""
    if progress:
        print(f"[hncf] {msg}", flush=True)


def write_outputs(out: Path, report: dict, markdown: str, curves: dict, title: str, t_start: float,
                  progress: bool) -> dict:
    """Stamp the wall time, then write the report (atomically), its markdown and the training curves."""
    report["wall_seconds"] = time.perf_counter() - t_start
    write_json(out / "metrics.json", report)
    (out / "results.md").write_text(markdown)
    plotted = {k: v for k, v in curves.items() if v.get("loss")}
    if plotted:
        plot_training_curves(plotted, out / "training_curves.png", metric_key="val_hr@10", title=title)
    log(f"wrote {out / 'metrics.json'}, {out / 'results.md'} in {report['wall_seconds']:.0f} s", progress)
    return report
