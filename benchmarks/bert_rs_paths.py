"""BERT-RS speed on the real review file: review encoding, and the cached vs end-to-end training paths side by side.

Both paths train the same model (the end-to-end one has the frozen encoder inside and reads raw review text);
each is timed with ``model.fit`` for the same number of batches, after one warm-up call.

    python benchmarks/bert_rs_paths.py --reviews reviews_Musical_Instruments_5.json.gz --out benchmarks/results/bert_rs_paths.json
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from hncf.cli import import_tensorflow_quietly


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reviews", required=True)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--encode", type=int, default=512, help="reviews to time the encoder on")
    p.add_argument("--out", default="benchmarks/results/bert_rs_paths.json")
    args = p.parse_args(argv)
    import_tensorflow_quietly()
    import keras
    import tensorflow as tf

    from hncf.data.amazon import load_reviews
    from hncf.encoders.text import load_text_encoder
    from hncf.evaluation import write_json
    from hncf.experiments.bert_rs import PRESETS
    from hncf.experiments.quick import minilm_path
    from hncf.models.bert_rs import build_bert_rs, build_bert_rs_end_to_end, copy_head

    reviews, _ = load_reviews(args.reviews, progress=False)
    texts = reviews["text"].to_numpy(dtype=object)
    enc = load_text_encoder(minilm_path(), pooling="mean", sequence_length=128)
    sample = texts[: args.encode]
    enc.encode(sample[:64], batch_size=64, progress=False)  # trace once
    t0 = time.perf_counter()
    vectors = enc.encode(sample, batch_size=64, progress=False)
    encode_rate = len(sample) / (time.perf_counter() - t0)

    rng = np.random.default_rng(0)
    n = args.batch_size * args.steps
    rows = rng.integers(0, len(sample), n)
    users = rng.integers(0, 1000, n).astype("int32")
    items = rng.integers(0, 900, n).astype("int32")
    labels = rng.integers(0, 2, n).astype("float32")
    cfg = PRESETS["default"].model
    e2e = build_bert_rs_end_to_end(1000, 900, enc.as_layer(), cfg, seed=0)
    cached = copy_head(e2e, build_bert_rs(1000, 900, vectors.shape[1], cfg, seed=1))
    results = {}
    for name, model, x in (("cached", cached, {"user_id": users, "item_id": items, "review_vector": vectors[rows]}),
                           ("end_to_end", e2e, {"user_id": tf.constant(users), "item_id": tf.constant(items),
                                                "review_text": tf.constant(sample[rows].astype(str))})):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
        warm = {k: v[: args.batch_size] for k, v in x.items()}
        model.fit(warm, labels[: args.batch_size], batch_size=args.batch_size, epochs=1, verbose=0)
        t0 = time.perf_counter()
        model.fit(x, labels, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=False)
        results[name] = n / (time.perf_counter() - t0)
    out = {"reviews": len(reviews), "encoder": enc.name, "encode_texts_per_second": encode_rate,
           "batch_size": args.batch_size, "steps": args.steps,
           "train_examples_per_second": results, "cached_over_end_to_end": results["cached"] / results["end_to_end"]}
    write_json(args.out, out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
