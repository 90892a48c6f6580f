"""How the NCF scale path grows: synthetic ML-20M-format ratings at 1M, 5M and 20M ratings.

For each size, in a fresh subprocess (so peak RSS is that size's alone, ``ru_maxrss``):
parse ``ratings.csv`` to int32 arrays (and write the ``.npy`` cache), load the memory-mapped cache,
leave-one-out split, build the tf.data negative sampler (4 negatives), train MF (32 factors,
global batch 65,535, linearly scaled Adam) for a bounded number of steps and time them, then rank
the full catalogue for every test user in memory-bounded blocks (matrix product + ``tf.math.top_k``).

    nice -n 10 python benchmarks/ncf_scale.py --sizes 1000000,5000000,20000000 --steps 30

Writes ``benchmarks/results/ncf_scale.json`` and ``ncf_scale.png``. The synthetic files are written
once with vectorised NumPy into ``--data-dir`` (default ``/tmp/hncf-scale``), never into the repo.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _generate(size: int, path: Path) -> None:
    from hncf.data.arrays import synthetic_rating_arrays, write_ratings_csv

    d = synthetic_rating_arrays(size, seed=0)
    write_ratings_csv(path, d["userId"], d["movieId"], d["rating"], d["timestamp"])


def _measure(path: Path, steps: int, eval_users: int | None) -> dict:
    import keras
    import numpy as np

    from hncf.data.arrays import leave_one_out_arrays, load_ratings_arrays
    from hncf.distribute import PointwiseBinaryCrossentropy
    from hncf.evaluation.blockwise import csr_rows, evaluate_full_ranking_blockwise
    from hncf.generators.tf_negatives import TFNegativeSampler, scaled_learning_rate
    from hncf.models.ncf import build_mf

    cache = path.parent / "cache"
    out = {"file_mb": path.stat().st_size / 2**20}
    t = time.perf_counter()
    data = load_ratings_arrays(path, cache_dir=cache, use_cache=False)
    out["parse_s"] = time.perf_counter() - t
    t = time.perf_counter()
    load_ratings_arrays(path, cache_dir=cache)  # writes the cache
    t = time.perf_counter()
    data = load_ratings_arrays(path, cache_dir=cache)
    out["cached_load_s"] = time.perf_counter() - t
    t = time.perf_counter()
    users, items = np.asarray(data.users), np.asarray(data.items)
    split = leave_one_out_arrays(users, np.asarray(data.timestamps), data.n_users, validation=False)
    out["split_s"] = time.perf_counter() - t
    out.update(n_ratings=len(data), n_users=data.n_users, n_items=data.n_items)
    tr_u, tr_i = users[split.train], items[split.train]
    t = time.perf_counter()
    sampler = TFNegativeSampler(tr_u, tr_i, data.n_users, data.n_items, n_neg=4, batch_size=65_535, seed=0)
    out["sampler_build_s"] = time.perf_counter() - t
    out["epoch_rows"] = sampler.rows_per_epoch
    model = build_mf(data.n_users, data.n_items, n_factors=32, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(scaled_learning_rate(1e-3, 2048, sampler.batch_size)),
                  loss=PointwiseBinaryCrossentropy(), jit_compile=False)
    ds = sampler.as_dataset()
    model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)  # trace and warm up
    t = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    train_s = time.perf_counter() - t
    out.update(train_steps=steps, train_s=train_s, examples_per_s=steps * sampler.batch_size / train_s)
    out["epoch_s_estimated"] = sampler.rows_per_epoch / out["examples_per_s"]
    test_u, test_i = users[split.test], items[split.test]
    n = test_u.size if eval_users is None else min(eval_users, test_u.size)
    t = time.perf_counter()
    full = evaluate_full_ranking_blockwise(model, test_u[:n], test_i[:n], data.n_items, k=10,
                                           exclude=csr_rows(tr_u, tr_i, data.n_users), max_bytes=256 << 20)
    out.update(eval_users=int(n), eval_s=time.perf_counter() - t, eval_hr10=full["hr@10"])
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["n_ratings"] / 1e6 for r in rows]
    for r in rows:
        r["eval_ms_per_user"] = 1e3 * r["eval_s"] / r["eval_users"]
    panels = [("parse_s", "parse ratings.csv (s)"), ("peak_rss_gib", "peak RSS (GiB)"),
              ("examples_per_s", "training examples/s"), ("eval_ms_per_user", "full ranking (ms per test user)")]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for ax, (key, title) in zip(axes, panels):
        y = [r[key] for r in rows]
        ax.plot(x, y, "o-")
        if key == "parse_s":
            ax.plot(x, [y[0] * xi / x[0] for xi in x], ":", color="gray", label="linear from the first size")
            ax.legend(fontsize=8)
        if key == "eval_ms_per_user":  # each user scores every item: proportional to the catalogue
            ax.plot(x, [y[0] * r["n_items"] / rows[0]["n_items"] for r in rows], ":", color="gray",
                    label="proportional to the items")
            ax.legend(fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("ratings (millions)")
        ax.grid(alpha=0.3)
    axes[1].axhline(6, color="red", ls="--", lw=1)
    fig.suptitle("NCF scale path on synthetic ML-20M-format data (2 shared CPU cores, MF 32 factors, batch 65,535)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000000,5000000,20000000")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--eval-users", type=int, default=None)
    p.add_argument("--data-dir", default="/tmp/hncf-scale")
    p.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    p.add_argument("--generate", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.generate:
        _generate(args.generate, Path(args.measure))
        return 0
    if args.measure:
        print(json.dumps(_measure(Path(args.measure), args.steps, args.eval_users)))
        return 0
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        path = Path(args.data_dir) / f"synthetic-{size}" / "ratings.csv"
        if not path.is_file():
            t = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--generate", str(size), "--measure", str(path)], env=env,
                           check=True)
            print(f"{size:,}: wrote {path} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        cmd = [sys.executable, __file__, "--measure", str(path), "--steps", str(args.steps)]
        if args.eval_users:
            cmd += ["--eval-users", str(args.eval_users)]
        res = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
        row = {"size": size, **json.loads(res.stdout.strip().splitlines()[-1])}
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "ncf_scale.json").write_text(json.dumps(
            {"machine": f"{os.cpu_count()} CPU cores shared with other jobs, no GPU", "rows": rows}, indent=1))
    _plot(rows, RESULTS / "ncf_scale.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
