"""Benchmark: NeuMF on ML-100K (chrono 75/25), hncf beside Microsoft Recommenders 1.2.1, in one run.

Measures on this machine, side by side:
  * negative sampling for one epoch (ms), training throughput (examples/s) and
    full-ranking evaluation (users/s) of hncf;
  * time to quality: hncf's NeuMF (paper settings, and the hncf preset) against the
    anchor ``../shared/anchors/ms_recommenders_ncf_ml100k.py`` run in its own venv
    (``--anchor-python``), each with its training seconds and top-10 metrics.
Ratios are computed from figures measured in this same run; absolute seconds vary by machine.

    python benchmarks/ncf_ml100k.py --data-dir ../shared/data/ml-100k \
        --anchor-python anchor-venv/bin/python --out benchmarks/results/ncf_ml100k.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from hncf.generators.ncf import PointwiseNegativeSampler  # noqa: E402
from hncf.data import load_movielens, sample_negatives, user_item_csr  # noqa: E402
from hncf.data.schema import ITEM, USER  # noqa: E402
from hncf.evaluation import evaluate_full_ranking, write_json  # noqa: E402
from hncf.experiments.ncf import PRESETS, evaluate_protocol  # noqa: E402
from hncf.pipeline.baselines import fit_row  # noqa: E402
from hncf.pipeline import prepare_chrono  # noqa: E402
from hncf.models.ncf import build_neumf  # noqa: E402
from hncf.training import TrainConfig, make_score_fn, train_pointwise  # noqa: E402

ANCHOR = Path(__file__).resolve().parents[1] / ".." / "shared" / "anchors" / "ms_recommenders_ncf_ml100k.py"
METRICS = ("map", "ndcg@10", "precision@10", "recall@10")


def _best_of(fn, repeat=5):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_components(split, seed: int) -> dict:
    """Sampling, throughput at two batch sizes and full-ranking evaluation speed."""
    n_users, n_items = len(split.users), len(split.items)
    u, i = split.full_train[USER].to_numpy(), split.full_train[ITEM].to_numpy()
    csr = user_item_csr(u, i, n_users, n_items)
    rng = np.random.default_rng(seed)
    sampling_s = _best_of(lambda: sample_negatives(u, n_items, csr, 4, rng))
    out = {"negative_sampling_ms_per_epoch": 1e3 * sampling_s, "train_rows": len(u)}
    for bs in (256, 2048):
        keras.utils.set_random_seed(seed)
        model = build_neumf(n_users, n_items, n_factors=16, layers=(16, 8, 4), seed=seed)
        sampler = PointwiseNegativeSampler(u, i, n_users, n_items, batch_size=bs, seed=seed)
        cfg = TrainConfig(epochs=1, batch_size=bs)
        model, _ = train_pointwise(model, sampler, cfg, verbose=0)  # warm-up: tracing, first epoch
        cfg = TrainConfig(epochs=4, batch_size=bs)
        sampler.set_epoch(0)
        model, res = train_pointwise(model, sampler, cfg, verbose=0)
        out[f"train_examples_per_s_batch{bs}"] = res.examples_per_second
    score = make_score_fn(model)
    score(np.zeros(1 << 16, np.int64), np.zeros(1 << 16, np.int64))  # trace once
    eval_s = _best_of(lambda: evaluate_full_ranking(score, u, i, split.test, n_items, k=10), repeat=3)
    pre = score(np.repeat(np.arange(n_users), n_items), np.tile(np.arange(n_items), n_users)).reshape(n_users, n_items)
    table = lambda uu, ii: pre[uu, ii]  # noqa: E731  (ranking cost alone, scores precomputed)
    rank_s = _best_of(lambda: evaluate_full_ranking(table, u, i, split.test, n_items, k=10), repeat=3)
    n_eval_users = split.test[USER].nunique()
    out.update({"full_ranking_eval_s": eval_s, "full_ranking_users_per_s": n_eval_users / eval_s,
                "ranking_and_metrics_only_s": rank_s, "eval_users": int(n_eval_users)})
    return out


def bench_hncf_quality(split, seed: int, extra_seeds: int) -> dict:
    """Train the chrono rows of the default preset; seconds and test metrics per row.

    The hncf row is repeated over ``extra_seeds`` more seeds (one seed is within noise of another).
    """
    rows = {}
    for spec in PRESETS["default"].chrono:
        seeds = [seed] if spec.label != "NeuMF (hncf)" else [seed + k for k in range(1 + extra_seeds)]
        runs = []
        for s in seeds:
            score_fn, record = fit_row(spec, split, s, None, False, {}, 0)
            t = time.perf_counter()
            m = evaluate_protocol("chrono", score_fn, split)
            runs.append({"seed": s, "train_seconds": record["train_seconds"], "epochs": record["epochs"],
                         "best_epoch": record.get("best_epoch"), "eval_seconds": time.perf_counter() - t,
                         "examples_per_second": record["examples_per_second"], **{k: m[k] for k in METRICS}})
        keys = ("train_seconds", "eval_seconds", "examples_per_second", *METRICS)
        rows[spec.label] = {**{k: float(np.mean([r[k] for r in runs])) for k in keys},
                            **{f"{k}_sd": float(np.std([r[k] for r in runs], ddof=1)) if len(runs) > 1 else 0.0
                               for k in keys},
                            "seeds": seeds, "runs": runs}
    return rows


def run_anchor(python: str, data_file: Path, args: list[str]) -> dict:
    """Run the Recommenders anchor in its own interpreter and parse its RESULT_JSON line."""
    with tempfile.TemporaryDirectory() as work:
        proc = subprocess.run([python, str(ANCHOR), "--data", str(data_file), "--workdir", work, *args],
                              capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT_JSON "):
            return json.loads(line[len("RESULT_JSON "):])
    raise RuntimeError(f"anchor printed no RESULT_JSON line (exit {proc.returncode}):\n{proc.stderr[-2000:]}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("HNCF_DATA_DIR"), help="folder with ml-100k/u.data")
    p.add_argument("--anchor-python", default=None, help="python of the venv that has recommenders==1.2.1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--extra-seeds", type=int, default=4, help="more seeds for the hncf preset row")
    p.add_argument("--anchor-paper-setting", action="store_true",
                   help="also run the anchor at the paper's setting (16 factors, 100 epochs; slow)")
    p.add_argument("--out", default="benchmarks/results/ncf_ml100k.json")
    args = p.parse_args(argv)

    data = load_movielens("ml-100k", data_dir=args.data_dir, progress=False)
    split = prepare_chrono(data.interactions, args.seed)
    result = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "seed": args.seed}
    print("[bench] components", flush=True)
    result["components"] = bench_components(split, args.seed)
    print(json.dumps(result["components"], indent=1), flush=True)
    print("[bench] hncf chrono rows", flush=True)
    result["hncf"] = bench_hncf_quality(split, args.seed, args.extra_seeds)
    print(json.dumps(result["hncf"], indent=1), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)  # keep our half even if the anchor fails
    if args.anchor_python:
        data_file = (Path(data.source) / "u.data").resolve()  # the anchor chdirs into its workdir
        anchors = {"notebook (4 factors, 50 epochs)": ["--n-factors", "4", "--epochs", "50"]}
        if args.anchor_paper_setting:
            anchors["paper (16 factors, 100 epochs)"] = ["--n-factors", "16", "--epochs", "100"]
        result["anchor"] = {}
        for name, a in anchors.items():
            print(f"[bench] anchor: {name}", flush=True)
            r = run_anchor(args.anchor_python, data_file, [*a, "--seed", str(args.seed)])
            result["anchor"][name] = {"train_seconds": r["timings_s"]["train_total"],
                                      "examples_per_second": r["throughput"]["examples_per_s_train_wall"],
                                      "eval_seconds": r["timings_s"]["score_all_unseen"]
                                      + r["timings_s"]["evaluate_5_metrics"],
                                      "map": r["metrics"]["map"], "ndcg@10": r["metrics"]["ndcg_at_k"],
                                      "precision@10": r["metrics"]["precision_at_k"],
                                      "recall@10": r["metrics"]["recall_at_k"]}
            print(json.dumps(result["anchor"][name], indent=1), flush=True)
        ours = result["hncf"]["NeuMF (hncf)"]
        nb = result["anchor"]["notebook (4 factors, 50 epochs)"]
        result["ratios"] = {
            "train_time_hncf_preset_vs_anchor_notebook": ours["train_seconds"] / nb["train_seconds"],
            "eval_time_hncf_vs_anchor": ours["eval_seconds"] / nb["eval_seconds"],
            "examples_per_s_batch256_hncf_vs_anchor": result["components"]["train_examples_per_s_batch256"]
            / nb["examples_per_second"],
        }
        if "paper (16 factors, 100 epochs)" in result["anchor"]:
            result["ratios"]["train_time_paper_settings_hncf_vs_anchor"] = (
                result["hncf"]["NeuMF (paper settings)"]["train_seconds"]
                / result["anchor"]["paper (16 factors, 100 epochs)"]["train_seconds"])
        print(json.dumps(result["ratios"], indent=1), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(f"[bench] wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
