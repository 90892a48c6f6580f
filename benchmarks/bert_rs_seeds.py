"""Summarise `reproduce bert-rs` runs over seeds: mean ± sd per row, and BERT-RS minus the best id-only row per seed.

    for s in 0 1 2; do python -m hncf reproduce bert-rs --reviews FILE --seed $s --out runs/bert-rs-s$s; done
    python benchmarks/bert_rs_seeds.py runs/bert-rs-s0 runs/bert-rs-s1 runs/bert-rs-s2 \
        --out benchmarks/results/bert_rs_seeds.json
"""

from __future__ import annotations

import sys

from hncf.evaluation import write_json
from hncf.experiments.bert_rs import ID_ONLY, PAPER_TABLE2, row_label
from hncf.pipeline.seeds import seed_runs_from_args, seeds_markdown, summarise_seeds, summary_columns

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
    cols = summary_columns(summary)
    paper = ([{"model": f"paper (Books): {n}", **{c: v.get(c) for c in cols}} for n, v in PAPER_TABLE2.items()]
             if protocol == "paper" else [])
    return "\n".join([f"#### `{protocol}` on {dataset}, seeds {summary['seeds']} (mean ± sd)\n",
                      seeds_markdown(summary, cols, extra_rows=paper)]) + "\n"


def main(argv=None) -> int:
    reports, out = seed_runs_from_args(argv, __doc__.splitlines()[0], "reproduce bert-rs",
                                       "benchmarks/results/bert_rs_seeds.json")
    summaries = {proto: summarise(reports, proto) for proto in reports[0]["protocols"]}
    write_json(out, {"dataset": reports[0]["dataset"], "text_encoder": reports[0]["text_encoder"],
                     "wall_seconds": [r["wall_seconds"] for r in reports], "protocols": summaries})
    md = "\n".join(markdown(s, proto, reports[0]["dataset"]) for proto, s in summaries.items())
    out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
