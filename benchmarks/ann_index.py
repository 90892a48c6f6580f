"""Exact vs approximate (faiss HNSW) nearest titles at 10k, 100k and 1M items: query latency and recall@10.

    python benchmarks/ann_index.py --sizes 10000,100000,1000000 --out benchmarks/results/ann_index.json

Vectors are synthetic unit vectors of the encoder's width (384, MiniLM): a mixture of 1,000 clusters on
the sphere, the shape real sentence embeddings have (i.i.d. Gaussian vectors in 384-d have no neighbour
structure at all and are a worst case no catalogue looks like). Queries are single requests, as on the
page: one user vector at a time (the mean of 3 items of one cluster, as a person ticking titles of one
kind), one thread. Recall@10 is the share of the
exact top 10 that the index returns, for several ``efSearch`` values.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hncf.models.content import ExactIndex, HNSWIndex, l2_normalise, recall_at_k  # noqa: E402


def clustered_vectors(n: int, dim: int, seed: int, n_clusters: int = 1000,
                      spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors around ``n_clusters`` random centres (float32) and their cluster labels.

    The noise has norm about ``spread`` (the centres have norm 1): within a cluster cosines are about 0.5.
    """
    rng = np.random.default_rng(seed)
    centres = l2_normalise(rng.normal(size=(n_clusters, dim)))
    out = np.empty((n, dim), dtype=np.float32)
    labels = rng.integers(0, n_clusters, n)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        x = centres[labels[s:s + m]] + spread * rng.normal(size=(m, dim)) / np.sqrt(dim)
        out[s:s + m] = l2_normalise(x)
    return out, labels


def bench_size(n: int, dim: int, n_queries: int, m: int, ef_construction: int, ef_searches, seed: int) -> dict:
    """Build both indexes over ``n`` vectors and time single queries."""
    import faiss

    x, labels = clustered_vectors(n, dim, seed)
    rng = np.random.default_rng(seed + 1)
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(labels.max() + 2))
    picked = []
    for c in rng.choice(np.flatnonzero(np.diff(starts) >= 3), n_queries):
        picked.append(order[starts[c] + rng.choice(starts[c + 1] - starts[c], 3, replace=False)])
    queries = l2_normalise(x[np.stack(picked)].mean(axis=1))
    exact = ExactIndex(x)
    faiss.omp_set_num_threads(2)
    t = time.perf_counter()
    hnsw = HNSWIndex(x, m=m, ef_construction=ef_construction)
    build_s = time.perf_counter() - t
    faiss.omp_set_num_threads(1)
    lat, truth = [], []
    for q in queries:
        t = time.perf_counter()
        _, idx = exact.search(q, 10)
        lat.append(time.perf_counter() - t)
        truth.append(idx[0])
    truth = np.stack(truth)
    res = {"n": n, "dim": dim, "queries": n_queries, "hnsw_m": m, "ef_construction": ef_construction,
           "hnsw_build_seconds": build_s, "exact_ms_p50": 1000 * float(np.percentile(lat, 50)),
           "exact_ms_p95": 1000 * float(np.percentile(lat, 95)), "hnsw": []}
    for ef in ef_searches:
        hnsw.ef_search = ef
        lat, found = [], []
        for q in queries:
            t = time.perf_counter()
            _, idx = hnsw.search(q, 10)
            lat.append(time.perf_counter() - t)
            found.append(idx[0])
        res["hnsw"].append({"ef_search": ef, "recall@10": recall_at_k(np.stack(found), truth),
                            "ms_p50": 1000 * float(np.percentile(lat, 50)),
                            "ms_p95": 1000 * float(np.percentile(lat, 95))})
    good = [r for r in res["hnsw"] if r["recall@10"] >= 0.99]
    res["smallest_ef_with_recall_0.99"] = good[0]["ef_search"] if good else None
    return res


def main(argv=None) -> int:
    """Run the benchmark for each size and write one JSON file (plus a markdown table beside it)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=64)
    p.add_argument("--ef-search", default="32,64,128,256")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/ann_index.json")
    args = p.parse_args(argv)
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        t = time.perf_counter()
        r = bench_size(n, args.dim, args.queries, args.m, args.ef_construction,
                       [int(e) for e in args.ef_search.split(",")], args.seed)
        r["wall_seconds"] = time.perf_counter() - t
        print(json.dumps(r), flush=True)
        results.append(r)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"results": results, "args": vars(args)}, indent=1) + "\n")
    lines = ["| items | exact p50 ms | exact p95 ms | HNSW build s | efSearch | HNSW p50 ms | HNSW p95 ms | recall@10 |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        for h in r["hnsw"]:
            lines.append(f"| {r['n']:,} | {r['exact_ms_p50']:.2f} | {r['exact_ms_p95']:.2f} | "
                         f"{r['hnsw_build_seconds']:.1f} | {h['ef_search']} | {h['ms_p50']:.3f} | {h['ms_p95']:.3f} | "
                         f"{h['recall@10']:.4f} |")
    Path(args.out).with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
