"""Summarise `reproduce hncf` runs over several seeds: mean ± sd per row, and paired differences.

Each seed's rows share one split, one set of sampled test negatives and one feature cache, so the
difference between two rows *within* a seed is the fair comparison (text vs ids, pixels vs the
has-a-poster flag); its mean ± sd over seeds says whether it is larger than the seed noise.

    for s in 0 1 2; do python -m hncf reproduce hncf ... --seed $s --out runs/hncf-s$s; done
    python benchmarks/hncf_seeds.py runs/hncf-s0 runs/hncf-s1 runs/hncf-s2 \
        --out benchmarks/results/hncf_seeds.json
"""

from __future__ import annotations

import sys

from hncf.evaluation import plot_metric_bars, write_json
from hncf.experiments.hncf import PAPER_TABLE3, ROW_LABELS, paper_beside, paper_note
from hncf.pipeline.seeds import seed_runs_from_args, seeds_markdown, summarise_seeds

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
    """The mean ± sd table (beside Table III only on the paper's dataset), the paper's note, the paired differences."""
    cols = [c for c, _, _ in METRICS]
    beside = paper_beside(summary["dataset"])

    def paper(variant: str) -> dict:
        p = PAPER_TABLE3.get(variant, {})
        return {"paper recall": p.get("recall"), "paper HR@10": p.get("hr@10")}

    order = (["model", "paper recall", "recall", "AUC", "paper HR@10", *cols[2:], "train s"] if beside
             else ["model", *cols, "train s"])
    table = seeds_markdown(summary, cols, label=lambda v: ROW_LABELS.get(v, v), beside=paper if beside else None,
                           train_seconds=True, order=order, note=paper_note(summary["dataset"]),
                           differences="## Paired differences (same seed, same split and negatives)")
    return "\n".join([f"# HNCF on {summary['dataset']}: seeds {', '.join(map(str, summary['seeds']))} "
                      f"(mean ± sd; preset {summary['preset']}, {summary['mode']})\n", table]) + "\n"


def main(argv=None) -> int:
    reports, out = seed_runs_from_args(argv, __doc__.splitlines()[0], "reproduce hncf",
                                       "benchmarks/results/hncf_seeds.json")
    summary = summarise(reports)
    write_json(out, summary)
    md = markdown(summary)
    out.with_suffix(".md").write_text(md)
    shown = ("recall", "HR@10 (1+99)", "NDCG@10 (1+99)", "HR@10 cold items", "HR@10 poster items")
    plot_metric_bars({ROW_LABELS[v]: {c: (s[c]["mean"], s[c]["sd"]) for c in shown} for v, s in summary["rows"].items()},
                     out.with_suffix(".png"),
                     title=f"HNCF rows on {summary['dataset']}, mean ± sd over seeds {summary['seeds']}")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
