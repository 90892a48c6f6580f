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


from hncf.evaluation import markdown_table, plot_metric_bars, write_json
from hncf.experiments.hncf import PAPER_TABLE3, ROW_LABELS
from hncf.pipeline.seeds import cell, summarise_seeds

# (column, protocol in metrics.json, metric)
METRICS = (("recall", "classification", "recall"), ("AUC", "classification", "auc"),
           ("HR@10 (1+99)", "loo", "hr@10"), ("NDCG@10 (1+99)", "loo", "ndcg@10"),
           ("HR@10 full", "full_ranking", "hr@10"), ("HR@10 cold items", "loo_cold_items", "hr@10"),
           ("HR@10 poster items", "loo_poster_items", "hr@10"))
PAIRS = (("bert_ncf", "ncf", "text over ids"), ("hncf", "bert_ncf", "posters over text"),
         ("hncf", "hncf_flag_only", "pixels over the poster flag"))


def summarise(reports: list[dict]) -> dict:
    """Per row and metric: the per-seed values, their mean and sample sd; the same for the PAIRS."""
    summary = summarise_seeds(reports, list(METRICS), list(ROW_LABELS), list(PAIRS), time_protocol="loo")
    first = reports[0]
    loo = first["protocols"]["loo"]
    return {"dataset": first["dataset"], "preset": first["preset"], "mode": first.get("mode", "cached"),
            "text_encoder": first["text_encoder"], "poster_encoder": first["poster_encoder"],
            "split": {k: loo[k] for k in ("n_users", "n_items", "n_train", "n_test")}, **summary}


def markdown(summary: dict) -> str:
    """The mean ± sd table beside the paper's Table III, then the paired differences."""
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
