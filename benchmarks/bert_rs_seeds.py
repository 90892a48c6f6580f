"""Summarise `reproduce bert-rs` runs over seeds: mean ± sd per row, and BERT-RS minus the best id-only row per seed.

    for s in 0 1 2; do python -m hncf reproduce bert-rs --reviews FILE --seed $s --out runs/bert-rs-s$s; done
    python benchmarks/bert_rs_seeds.py runs/bert-rs-s0 runs/bert-rs-s1 runs/bert-rs-s2 \
        --out benchmarks/results/bert_rs_seeds.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hncf.evaluation import markdown_table, write_json
from hncf.experiments.bert_rs import ID_ONLY, PAPER_TABLE2, row_label
from hncf.pipeline.seeds import cell, summarise_seeds

METRICS = ("hr@10", "ndcg@10", "hr@5", "ndcg@5", "hr@1")


def summarise(reports: list[dict], protocol: str) -> dict:
    """Mean ± sd of every row under ``protocol``, and paired differences against EASE and the best id-only mean."""
    rows = list(reports[0]["protocols"][protocol]["models"])
    cols = [(m, protocol, m) for m in METRICS]
    if protocol == "loo":
        cols.append(("full_hr@10", protocol, "full_hr@10"))
    dep, lit = row_label("deployable"), row_label("paper-literal")
    first = summarise_seeds(reports, cols, rows)
    best = max((r for r in ID_ONLY if r in first["rows"]), key=lambda r: first["rows"][r]["hr@10"]["mean"])
    pairs = [(dep, best, f"deployable - {best} (best id-only)"), (lit, dep, "paper-literal - deployable (the leak)")]
    return {"best_id_only": best, **summarise_seeds(reports, cols, rows, pairs)}


def markdown(summary: dict, protocol: str, dataset: str) -> str:
    """The mean ± sd table (paper's Table 2 rows beside the paper protocol) and the paired differences."""
    cols = [c for c in summary["rows"][next(iter(summary["rows"]))] if c not in ("train_seconds", "best_epoch")]
    rows = [{"model": name, **{c: cell(s[c]) for c in cols}} for name, s in summary["rows"].items()]
    if protocol == "paper":
        rows += [{"model": f"paper (Books): {n}", **{c: v.get(c) for c in cols}} for n, v in PAPER_TABLE2.items()]
    out = [f"#### `{protocol}` on {dataset}, seeds {summary['seeds']} (mean ± sd)\n", markdown_table(rows, ["model", *cols]),
           "\nPaired differences within a seed (same split, same negatives):\n"]
    drows = [{"difference": what, **{c: cell(d[c]) for c in cols}} for what, d in summary["paired_differences"].items()]
    out.append(markdown_table(drows, ["difference", *cols]))
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="output folders of `reproduce bert-rs` (each with metrics.json)")
    p.add_argument("--out", default="benchmarks/results/bert_rs_seeds.json")
    args = p.parse_args(argv)
    reports = []
    for run in args.runs:
        path = Path(run) / "metrics.json"
        if not path.exists():
            raise SystemExit(f"{path} not found: is {run} the output folder of a finished `reproduce bert-rs` run?")
        reports.append(json.loads(path.read_text()))
    summaries = {proto: summarise(reports, proto) for proto in reports[0]["protocols"]}
    write_json(args.out, {"dataset": reports[0]["dataset"], "text_encoder": reports[0]["text_encoder"],
                          "wall_seconds": [r["wall_seconds"] for r in reports], "protocols": summaries})
    md = "\n".join(markdown(s, proto, reports[0]["dataset"]) for proto, s in summaries.items())
    Path(args.out).with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
