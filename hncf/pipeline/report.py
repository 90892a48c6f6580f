"""What every `reproduce` run leaves behind, in one schema for every system.

``metrics.json``::

    {"system", "dataset", "preset", "seed", "run": {the run configuration}, "machine": {...},
     "wall_seconds",
     "protocols": {name: {"protocol": what is ranked against what, "split": ..., "n_users", "n_items",
                          "n_train", "n_test", "paper": {row: {metric: published value}},
                          "models": {row: {"metrics": {metric: value}, "train_seconds", "epochs",
                                           "best_epoch", "history", "bundle", ...}}}}}

plus ``results.md`` (the system's tables beside the paper's) and ``training_curves.png``.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

from hncf.evaluation import plot_training_curves, write_json


def log(msg: str, progress: bool) -> None:
    """One progress line on stdout (flushed, so notebooks and CI logs show it as it happens)."""
    if progress:
        print(f"[hncf] {msg}", flush=True)


def machine_info() -> dict:
    """Where a run's numbers were measured: stated beside every table made from them."""
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}
    try:
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
        info["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    except ImportError:
        pass
    return info


def write_outputs(out: Path, report: dict, markdown: str, curves: dict, title: str, t_start: float,
                  progress: bool, metric_key: str | None = None) -> dict:
    """Stamp the wall time and machine, then write the report (atomically), its markdown and the training curves.

    ``curves`` maps a row label to its training history; ``metric_key`` is the validation log
    plotted beside the loss (default: the first ``val_*`` key other than ``val_loss``).
    """
    report["wall_seconds"] = time.perf_counter() - t_start
    report.setdefault("machine", machine_info())
    write_json(out / "metrics.json", report)
    (out / "results.md").write_text(markdown)
    plotted = {k: v for k, v in curves.items() if v.get("loss")}
    if plotted:
        plot_training_curves(plotted, out / "training_curves.png", metric_key=metric_key, title=title)
    log(f"wrote {out / 'metrics.json'}, {out / 'results.md'} in {report['wall_seconds']:.0f} s", progress)
    return report
