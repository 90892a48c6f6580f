"""Summarise `reproduce hncf` runs over several seeds: mean ± sd per row, and paired differences.

Each seed's rows share one split, one set of sampled test negatives and one feature cache, so the
difference between two rows *within* a seed is the fair comparison (text vs ids, pixels vs the
has-a-poster flag); its mean ± sd over seeds says whether it is larger than the seed noise.

    for s in 0 1 2; do python -m hncf reproduce hncf ... --seed $s --out runs/hncf-s$s; done
    python benchmarks/hncf_seeds.py runs/hncf-s0 runs/hncf-s1 runs/hncf-s2 \
        --out benchmarks/results/hncf_seeds.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from hncf.evaluation import markdown_table, plot_metric_bars, write_json
from hncf.experiments.hncf import PAPER_TABLE3, ROW_LABELS

# (column, protocol key in metrics.json, metric)
METRICS = (("recall", "classification", "recall"), ("AUC", "classification", "auc"),
           ("HR@10 (1+99)", "sampled", "hr@10"), ("NDCG@10 (1+99)", "sampled", "ndcg@10"),
           ("HR@10 full", "full_ranking", "hr@10"), ("HR@10 cold items", "sampled_cold_items", "hr@10"),
           ("HR@10 poster items", "sampled_poster_items", "hr@10"))
PAIRS = (("bert_ncf", "ncf", "text over ids"), ("hncf", "bert_ncf", "posters over text"),
         ("hncf", "hncf_flag_only", "pixels over the poster flag"))


def _value(row: dict, protocol: str, metric: str) -> float:
    return float(row["metrics"].get(protocol, {}).get(metric, np.nan))


def summarise(reports: list[dict]) -> dict:
    """Per row and metric: the per-seed values, their mean and sample sd; the same for the PAIRS."""
    seeds = [r["seed"] for r in reports]
    variants = [v for v in ROW_LABELS if all(v in r["models"] for r in reports)]
    rows = {}
    for v in variants:
        rows[v] = {}
        for col, protocol, metric in METRICS:
            vals = np.array([_value(r["models"][v], protocol, metric) for r in reports])
            rows[v][col] = {"values": vals.tolist(), "mean": float(np.mean(vals)),
                            "sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0}
        secs = [r["models"][v]["train_seconds"] for r in reports]
        rows[v]["train_seconds"] = {"values": secs, "mean": float(np.mean(secs))}
        rows[v]["best_epoch"] = [r["models"][v].get("best_epoch") for r in reports]
    diffs = {}
    for a, b, what in PAIRS:
        if a in rows and b in rows:
            diffs[what] = {}
            for col, _, _ in METRICS:
                d = np.array(rows[a][col]["values"]) - np.array(rows[b][col]["values"])
                diffs[what][col] = {"values": d.tolist(), "mean": float(np.mean(d)),
                                    "sd": float(np.std(d, ddof=1)) if len(d) > 1 else 0.0}
    first = reports[0]
    return {"dataset": first["dataset"], "preset": first["preset"], "mode": first.get("mode", "cached"),
            "text_encoder": first["text_encoder"], "poster_encoder": first["poster_encoder"], "seeds": seeds,
            "split": first["split"], "rows": rows, "paired_differences": diffs}


def markdown(summary: dict) -> str:
    """The mean ± sd table beside the paper's Table III, then the paired differences."""
    def cell(stat):
        return f"{stat['mean']:.3f} ± {stat['sd']:.3f}"

    cols = [c for c, _, _ in METRICS]
    rows = []
    for v, stats in summary["rows"].items():
        paper = PAPER_TABLE3.get(v, {})
        rows.append({"model": ROW_LABELS[v], "paper recall": paper.get("recall"), "paper HR@10": paper.get("hr@10"),
                     **{c: cell(stats[c]) for c in cols}, "train s": f"{stats['train_seconds']['mean']:.0f}"})
    out = [f"# HNCF on {summary['dataset']}: seeds {', '.join(map(str, summary['seeds']))} "
           f"(mean ± sd; preset {summary['preset']}, {summary['mode']})\n",
           markdown_table(rows, ["model", "paper recall", "recall", "AUC", "paper HR@10", *cols[2:], "train s"]),
           "\n## Paired differences (same seed, same split and negatives)\n"]
    drows = [{"difference": what, **{c: cell(d[c]) for c in cols}} for what, d in summary["paired_differences"].items()]
    out.append(markdown_table(drows, ["difference", *cols]))
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="output folders of `reproduce hncf` (each with metrics.json)")
    p.add_argument("--out", default="benchmarks/results/hncf_seeds.json")
    args = p.parse_args(argv)
    reports = []
    for run in args.runs:
        path = Path(run) / "metrics.json"
        if not path.exists():
            raise SystemExit(f"{path} not found: is {run} the output folder of a finished `reproduce hncf` run?")
        reports.append(json.loads(path.read_text()))
    summary = summarise(reports)
    write_json(args.out, summary)
    md = markdown(summary)
    Path(args.out).with_suffix(".md").write_text(md)
    shown = ("recall", "HR@10 (1+99)", "NDCG@10 (1+99)", "HR@10 cold items", "HR@10 poster items")
    plot_metric_bars({ROW_LABELS[v]: {c: (s[c]["mean"], s[c]["sd"]) for c in shown} for v, s in summary["rows"].items()},
                     Path(args.out).with_suffix(".png"),
                     title=f"HNCF rows on {summary['dataset']}, mean ± sd over seeds {summary['seeds']}")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
