"""Query-recommender speed: cached vs end-to-end training side by side, and ``recommend-text`` latency.

Three training paths of the same model on real request texts (the per-dialogue inputs of the given ReDial
files), each timed with ``model.fit`` over the same batches after a warm-up call:

* ``cached``: the frozen encoder's vectors were computed once; the heads train on them (our CPU default);
* ``end_to_end_frozen``: the encoder runs inside the model on every batch, its weights frozen;
* ``end_to_end_finetune``: the same with the encoder trainable (the paper's way; GPU).

Latency: loading a saved bundle (``--model``, written by ``reproduce query``), the first request (graph
tracing) and the median of later requests, in this process; and one ``python -m hncf recommend-text`` call,
timed from outside as a user meets it.

    python benchmarks/query_paths.py --dialogues ../shared/data/redial/conversations_sample.jsonl \
        --model runs/query-redial-default/model --out benchmarks/results/query_paths.json
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

from hncf.cli import import_tensorflow_quietly

REQUESTS = ("I loved Up and Toy Story, something artistic please",
            "I want a scary movie for tonight, something like The Conjuring",
            "Any funny comedy? I liked Superbad and Step Brothers")


def train_rates(texts, n_movies: int, batch_size: int, steps: int, sequence_length: int) -> dict:
    """Examples/s of the three training paths on the same batches (multi-label targets drawn with a seed)."""
    import keras
    import tensorflow as tf

    from hncf.encoders.text import load_text_encoder
    from hncf.experiments.quick import minilm_path
    from hncf.models.query import QueryRecommender, cached_twin, compile_query

    enc = load_text_encoder(minilm_path(), pooling="mean", sequence_length=sequence_length)
    rng = np.random.default_rng(0)
    n = batch_size * steps
    rows = rng.integers(0, len(texts), n)
    batch_texts = np.asarray(texts, dtype=object)[rows].astype(str)
    y = np.zeros((n, n_movies + 1), np.float32)
    y[np.arange(n), rng.integers(0, n_movies, n)] = 1
    enc.encode(batch_texts[:batch_size], batch_size=64, progress=False)  # trace once, outside the timing
    t0 = time.perf_counter()
    vectors = enc.encode(batch_texts, batch_size=64, progress=False)
    encode_rate = n / (time.perf_counter() - t0)
    rates = {}
    for name in ("cached", "end_to_end_frozen", "end_to_end_finetune"):
        keras.utils.set_random_seed(0)
        e2e = QueryRecommender(n_movies, text_layer=enc.as_layer(trainable=name == "end_to_end_finetune"),
                               variant="bert", seed=0, name=f"query_{name}")
        model = cached_twin(e2e) if name == "cached" else e2e
        x = {"text_vector": vectors} if name == "cached" else {"text": tf.constant(batch_texts)}
        compile_query(model, 1e-5)
        warm = {k: v[:batch_size] for k, v in x.items()}
        model.fit(warm, y[:batch_size], batch_size=batch_size, epochs=1, verbose=0)
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
        rates[name] = n / (time.perf_counter() - t0)
    return {"encoder": enc.name, "encode_texts_per_second": encode_rate, "train_examples_per_second": rates,
            "cached_over_end_to_end_frozen": rates["cached"] / rates["end_to_end_frozen"],
            "cached_over_end_to_end_finetune": rates["cached"] / rates["end_to_end_finetune"]}


def latency(model_dir: str, repeats: int) -> dict:
    """Seconds to load a bundle, for the first request and (median, max) for later ones; one CLI call."""
    from hncf.serving.query import load_query_model, recommend_from_text

    t0 = time.perf_counter()
    qm = load_query_model(model_dir)
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    recommend_from_text(qm, REQUESTS[0], k=10)
    first = time.perf_counter() - t0
    later = []
    for i in range(repeats):
        t0 = time.perf_counter()
        recommend_from_text(qm, REQUESTS[i % len(REQUESTS)], k=10)
        later.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    cli = subprocess.run([sys.executable, "-m", "hncf", "recommend-text", "--model", model_dir, REQUESTS[1]],
                         capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    cli_wall = time.perf_counter() - t0
    if cli.returncode != 0:
        raise RuntimeError(f"recommend-text failed: {cli.stderr.strip()[-500:]}")
    return {"load_seconds": load, "first_request_seconds": first, "later_requests": repeats,
            "later_median_seconds": float(np.median(later)), "later_max_seconds": float(np.max(later)),
            "cli_wall_seconds": cli_wall}


def main(argv=None) -> int:
    """Run the benchmark and write its JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dialogues", required=True, help="ReDial JSON-lines file(s), comma separated")
    p.add_argument("--model", help="a saved query bundle folder (for the latency part)")
    p.add_argument("--batch-size", type=int, default=8, help="the paper's batch size")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--sequence-length", type=int, default=256)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--out", default="benchmarks/results/query_paths.json")
    args = p.parse_args(argv)
    import_tensorflow_quietly()
    from hncf.data import redial as R
    from hncf.evaluation import write_json
    from hncf.experiments.query import load_dialogue_files

    files, catalogue_path = R.find_redial_files(args.dialogues)
    dialogues, _ = load_dialogue_files(files)
    catalogue = R.read_catalogue(catalogue_path)
    examples = R.build_examples(dialogues, catalogue, "dialogue")
    out = {"dialogues": len(dialogues), "n_movies": len(catalogue), "batch_size": args.batch_size,
           "steps": args.steps, "sequence_length": args.sequence_length,
           "machine": {"cpus": os.cpu_count(), "load_average_start": os.getloadavg()}}
    out.update(train_rates(examples.text("title"), len(catalogue), args.batch_size, args.steps, args.sequence_length))
    if args.model:
        out["latency"] = latency(args.model, args.repeats)
    out["machine"]["load_average_end"] = os.getloadavg()
    write_json(args.out, out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
