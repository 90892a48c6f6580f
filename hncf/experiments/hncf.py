"""Reproduce HNCF (BERT + VGG16 + NCF) and its baselines, with the checks the paper lacks.

Table III of the paper compares "Benchmark NCF" (ids), "BERT based NCF" (ids + text) and HNCF
(ids + text + posters) by classification recall and HR@10. Here every row is trained on the
same leave-one-out split as the NCF reproduction, its epoch chosen on validation data carved
from training (then refit on all training data), and evaluated under:

* the sampled protocol (latest item vs 99 sampled negatives): HR@10, NDCG@10, also on
  - test items with fewer than 5 training interactions (cold items: where content should help),
  - users whose test item has a poster, ranked only among items that have posters;
* classification on held-out labelled pairs (each test positive and one sampled negative):
  recall, precision, AUC at 0.5 (the paper's "Recall");
* full ranking of every item the user has not rated in training: HR@10, NDCG@10, MAP.

Posters are not missing at random (older, popular films have them more often), so a bare
"has a poster" flag can lift HR@10 on its own. The ``hncf_flag_only`` row keeps the flag but
zeroes the pixels' features: HNCF is credited only with what it gains over that row.

Item features are computed once per item by the frozen encoders and cached on disk, keyed by
encoder and content (see :mod:`hncf.encoders.cache`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import scipy.sparse as sp

from hncf.data import load_movielens, sample_test_negatives
from hncf.data.movie_text import (
    build_movie_texts,
    filter_tags,
    load_tags,
    training_tag_cutoff,
)
from hncf.data.posters import (
    PosterIndex,
    PosterReport,
    empty_poster_ids,
    load_posters,
    poster_bytes_hash,
    poster_coverage,
)
from hncf.data.schema import ITEM, USER
from hncf.encoders.cache import FeatureCache, content_hash
from hncf.encoders.poster import build_poster_encoder, encode_posters
from hncf.encoders.text import KerasHubTextEncoder, load_text_encoder
from hncf.evaluation import (
    classification_report,
    evaluate_full_ranking,
    evaluate_sampled,
    markdown_table,
)
from hncf.evaluation.metrics import hr_ndcg_from_ranks
from hncf.experiments.hncf_paths import MODES, CachedPath, EndToEndPath, ItemFeatures
from hncf.models.hncf import HNCFConfig, cached_twin
from hncf.pipeline import (
    PreparedSplit,
    log,
    prepare_loo,
    select_then_refit,
    write_outputs,
)
from hncf.serving.bundle import save_bundle
from hncf.training import TrainConfig, compile_pointwise

# Table III of the paper (ML-20M sample; "HR@10 on 799 users", protocol unstated).
PAPER_TABLE3 = {"ncf": {"recall": 0.449, "hr@10": 0.161}, "bert_ncf": {"recall": 0.689, "hr@10": 0.422},
                "hncf": {"recall": 0.720, "hr@10": 0.486}}
PAPER_DATA = "a 1% sample of ML-20M"
# Which Table III column sits beside which protocol of ours.
PAPER_METRIC = {"loo": "hr@10", "classification": "recall"}
ROW_LABELS = {"ncf": "NCF (ids)", "bert_ncf": "BERT-NCF (ids + text)", "hncf": "HNCF (ids + text + poster)",
              "hncf_flag_only": "HNCF, poster pixels zeroed (flag kept)"}
COLD_ITEM_THRESHOLD = 5
VGG_RANDOM_SEED = 1234  # weights=none (no ImageNet download possible): a fixed random VGG16


@dataclass
class HNCFPreset:
    """How the fusion rows train."""

    train: TrainConfig
    model: HNCFConfig = field(default_factory=HNCFConfig)
    validate: bool = True
    image_size: int = 224


PRESETS = {
    # Table II: Adam 1e-3, binary cross-entropy, batch 8, 25 epochs. Hours per row on a CPU: for a GPU.
    "paper": HNCFPreset(TrainConfig(epochs=25, batch_size=8, learning_rate=1e-3), validate=False),
    "default": HNCFPreset(TrainConfig(epochs=30, batch_size=1024, learning_rate=1e-3, patience=4)),
    "tiny": HNCFPreset(TrainConfig(epochs=2, batch_size=256, learning_rate=3e-3, patience=2),
                       HNCFConfig(embedding_dim=8, poster_units=16, hidden=(32, 16)), image_size=32),
}


def default_feature_cache_dir() -> Path:
    """``$HNCF_CACHE_DIR/features`` (default ``~/.cache/hncf/features``)."""
    return Path(os.environ.get("HNCF_CACHE_DIR", Path.home() / ".cache" / "hncf")) / "features"


def item_texts(data, split: PreparedSplit, tags: pd.DataFrame | None) -> np.ndarray:
    """Movie texts in item-index order, built only from what the training period may see.

    Tags that a held-out (test or validation) user put on the held-out movie are the answer
    itself, and tags written after a user's last training interaction are from the future.
    """
    raw_items = split.items.raw
    users = np.r_[split.test[USER].to_numpy(), split.validation.users]
    items = np.r_[split.test[ITEM].to_numpy(), split.validation.items]
    held_out = pd.DataFrame({USER: split.users.decode(users), ITEM: split.items.decode(items)})
    if tags is not None:
        train_raw = pd.DataFrame({USER: split.users.decode(split.full_train[USER].to_numpy()),
                                  "timestamp": split.full_train["timestamp"].to_numpy()})
        tags = filter_tags(tags, exclude_pairs=held_out, tag_cutoff=training_tag_cutoff(train_raw))
    items = data.items[data.items[ITEM].isin(raw_items)]
    texts = build_movie_texts(items, tags=tags)
    return texts.reindex(raw_items).to_numpy(dtype=object)


def poster_encoder_for(image_weights, image_size: int) -> keras.Model:
    """The frozen VGG16 behind the cached poster vectors (seeded when it has no pretrained weights)."""
    if image_weights in (None, "none"):
        keras.utils.set_random_seed(VGG_RANDOM_SEED)
        return build_poster_encoder(None, input_size=image_size)
    return build_poster_encoder(image_weights, input_size=image_size)


def _poster_features(split: PreparedSplit, posters_dir, image_weights, image_size: int, cache: FeatureCache,
                     progress: bool) -> tuple[np.ndarray, np.ndarray, dict, str]:
    index = PosterIndex(posters_dir, key="movieId")
    raw = split.items.raw
    covered = poster_coverage(index, raw)
    hashes = poster_bytes_hash(index, raw)
    random_init = image_weights in (None, "none")
    # Random weights are seeded, so "none" names one fixed encoder and cached vectors stay valid.
    weights_id = f"random-seed{VGG_RANDOM_SEED}" if random_init else (
        "imagenet" if image_weights == "imagenet" else content_hash(Path(image_weights).read_bytes()))
    name = f"vgg16:{weights_id}:{image_size}:max:paper"
    encoder = None
    reports = []

    have = np.flatnonzero(covered)
    have_ids = raw[have]

    def compute(positions):
        nonlocal encoder
        ids = have_ids[positions]
        if encoder is None:
            encoder = poster_encoder_for(image_weights, image_size)
        batch = load_posters(index, ids, size=(image_size, image_size), mode="paper", progress=False)
        reports.append(batch.report)
        feats = encode_posters(encoder, batch.images, batch.mask, progress=False)
        # The mask travels with the features: a file that exists may still fail to decode.
        return np.concatenate([feats, batch.mask.astype(np.float32)[:, None]], axis=1)

    # Items without a file are not decoded at all: their row is zeros with mask 0.
    out = np.zeros((len(raw), 513), dtype=np.float32)
    if len(have):
        out[have] = cache.get_or_compute(name, have_ids, [hashes[k] for k in have], compute, batch_size=256,
                                         progress=progress)
    mask = out[:, -1] > 0.5
    k = PosterReport.MAX_EXAMPLES
    empty = empty_poster_ids(index, raw)  # counted as missing; named so the user can find them
    report = {"items": int(len(raw)), "with_file": int(covered.sum()), "missing": int((~covered).sum()),
              "unreadable": int((covered & ~mask).sum()), "used": int(mask.sum()),
              "unreadable_ids": np.asarray(raw)[covered & ~mask][:k].tolist(),
              "zero_byte_files": len(empty), "zero_byte_ids": empty[:k]}
    if reports:
        report["decoded_this_run"] = sum(reports[1:], reports[0]).summary()
    return out[:, :-1], mask, report, name


def prepare_item_features(data, split: PreparedSplit, tags, text_encoder: str | None, text_pooling: str,
                          posters_dir, image_weights, image_size: int, cache_dir, progress: bool) -> ItemFeatures:
    """Texts, text vectors and poster features for every item index, through the feature cache."""
    cache = FeatureCache(cache_dir or default_feature_cache_dir())
    texts = item_texts(data, split, tags)
    feats = ItemFeatures(texts=texts, text_vectors=None, poster_vectors=None, poster_mask=None)
    if text_encoder:
        enc = load_text_encoder(text_encoder, pooling=text_pooling)
        raw = split.items.raw
        feats.text_vectors = cache.get_or_compute(
            enc.name, raw, [content_hash(t) for t in texts],
            lambda positions: enc.encode(texts[positions], batch_size=64, progress=False, ids=raw[positions]),
            batch_size=512, progress=progress)
        feats.text_encoder, feats.text_model = enc.name, enc
    if posters_dir:
        feats.poster_vectors, feats.poster_mask, feats.poster_report, feats.poster_encoder = _poster_features(
            split, posters_dir, image_weights, image_size, cache, progress)
    return feats


def fit_variant(path, split: PreparedSplit, preset: HNCFPreset, seed: int, ckpt_root: Path | None,
                resume: bool, verbose, run_config: dict | None = None, bundle_dir: Path | None = None,
                item_info: pd.DataFrame | None = None, progress: bool = False):
    """Train one row through the shared select-then-refit stage; returns (score_fn, record).

    ``path`` (:class:`CachedPath` or :class:`EndToEndPath`) builds the row's model and sampler and
    says how it is scored, in validation and in the final evaluation alike.
    """
    agreement = []

    def build(stage: str):
        train = split.stage_train(stage)
        cfg = preset.train
        model = path.build(seed)
        sampler = path.sampler(train[USER].to_numpy(), train[ITEM].to_numpy(), cfg.n_neg, cfg.batch_size, seed,
                               split.stage_csr(stage))
        if isinstance(path, EndToEndPath) and not agreement:
            agreement.append(path.check_agreement(model, sampler[0][0]))
        return compile_pointwise(model, cfg), sampler

    validation = dataclasses.replace(split.validation, score_fn_factory=path.score_fn) if preset.validate else None
    ckpt = None if ckpt_root is None else ckpt_root / path.mode / path.variant
    model, record = select_then_refit(build, preset.train, validation, checkpoint_dir=ckpt, resume=resume,
                                      verbose=verbose, run_config=run_config, progress=progress and not verbose)
    record.update(variant=path.variant, mode=path.mode, model=preset.model.to_dict())
    if agreement:
        record["end_to_end_vs_twin_max_abs_diff"] = agreement[0]
    if bundle_dir is not None:
        # The bundle keeps the cached twin (the same head on each item's vectors), which is how the row is scored.
        scorer = model if path.mode == "cached" else cached_twin(model, len(split.users), len(split.items),
                                                                  preset.model, variant=path.variant)
        tables = path.tables if path.mode == "cached" else path.item_tables(model)
        save_bundle(bundle_dir, scorer, split.users, split.items, split.train_csr(), item_tables=tables, item_info=item_info,
                    meta={**(run_config or {}), "system": "hncf", "row": path.variant})
        record["bundle"] = str(bundle_dir)
    return path.score_fn(model), record


def training_path(variant: str, mode: str, split: PreparedSplit, feats: ItemFeatures, preset: HNCFPreset,
                  posters_dir, image_weights, fine_tune_text: bool, progress: bool):
    """The training path of one report row in ``mode``; rows without an encoder (ids only) are the same either way."""
    n_users, n_items = len(split.users), len(split.items)
    if mode == "cached" or variant == "ncf":
        return CachedPath(variant, feats, n_users, n_items, preset.model)
    if variant == "hncf_flag_only":
        raise ValueError("the hncf_flag_only control zeroes the poster features, so no image goes through an "
                         "encoder: train it with --mode cached (or leave it out of the end-to-end variants)")
    if not isinstance(feats.text_model, KerasHubTextEncoder):
        raise ValueError(f"--mode end-to-end needs a keras-hub text encoder (a preset name or a local folder): "
                         f"{feats.text_encoder} is cache-only")
    load = None
    if variant == "hncf":
        index = PosterIndex(posters_dir, key="movieId")
        raw, size = split.items.raw, (preset.image_size, preset.image_size)

        def load(item_indices):
            batch = load_posters(index, raw[item_indices], size=size, mode="paper", progress=False)
            return batch.images, batch.mask

    return EndToEndPath(variant, feats, n_users, n_items, preset.model, text_encoder=feats.text_model,
                        fine_tune_text=fine_tune_text,
                        poster_encoder_factory=lambda: poster_encoder_for(image_weights, preset.image_size),
                        load_posters=load, progress=progress)


def _poster_only_negatives(split: PreparedSplit, mask: np.ndarray, rows: np.ndarray, seed: int):
    """99 negatives drawn only from items that have a poster, for the test ``rows`` that can have them.

    Returns ``(rows kept, negatives)``: a user who rated all but a few of the poster items is left out.
    """
    n_users, n_items = len(split.users), len(split.items)
    no_poster = np.flatnonzero(~mask)
    blocked = sp.csr_matrix((np.ones(n_users * len(no_poster), np.float32),
                             (np.repeat(np.arange(n_users), len(no_poster)), np.tile(no_poster, n_users))),
                            shape=(n_users, n_items))
    excluded = (split.all_interactions + blocked).tocsr()
    excluded.data[:] = 1.0
    users = split.test[USER].to_numpy()[rows]
    rows = rows[n_items - np.asarray(excluded.sum(axis=1)).ravel()[users] >= 99]
    users = split.test[USER].to_numpy()[rows]
    return rows, sample_test_negatives(excluded, users, n_neg=99, seed=seed + 7)


def evaluate_variant(score_fn, split: PreparedSplit, feats: ItemFeatures, full_ranking: bool, seed: int) -> dict:
    """Every protocol of the module docstring for one trained row."""
    tu, ti = split.test[USER].to_numpy(), split.test[ITEM].to_numpy()
    res, ranks = evaluate_sampled(score_fn, tu, ti, split.test_negatives, ks=(1, 5, 10), return_ranks=True)
    out = {"sampled": res}
    counts = np.bincount(split.full_train[ITEM].to_numpy(), minlength=len(split.items))
    cold = counts[ti] < COLD_ITEM_THRESHOLD
    if cold.any():
        hr, nd = hr_ndcg_from_ranks(ranks[cold], 10)
        out["sampled_cold_items"] = {"hr@10": hr, "ndcg@10": nd, "n_users": int(cold.sum())}
    if feats.poster_mask is not None:
        rows, negs = _poster_only_negatives(split, feats.poster_mask, np.flatnonzero(feats.poster_mask[ti]), seed)
        if len(rows):
            r = evaluate_sampled(score_fn, tu[rows], ti[rows], negs, ks=(10,))
            out["sampled_poster_items"] = {"hr@10": r["hr@10"], "ndcg@10": r["ndcg@10"], "n_users": r["n_users"]}
    neg = split.test_negatives[:, 0]
    labels = np.r_[np.ones(len(tu)), np.zeros(len(tu))]
    scores = score_fn(np.r_[tu, tu], np.r_[ti, neg])
    out["classification"] = classification_report(labels, scores, threshold=0.5)
    if full_ranking:
        out["full_ranking"] = evaluate_full_ranking(score_fn, split.full_train[USER].to_numpy(),
                                                    split.full_train[ITEM].to_numpy(), split.test,
                                                    len(split.items), k=10)
    return out


@dataclass
class HNCFRun:
    """One ``reproduce hncf`` run: what the CLI flags (or a notebook's parameters cell) set.

    ``text_encoder``: keras-hub preset name, local directory or ``tfhub:<handle>`` (the paper's
    ``bert_base_en_uncased`` by default). ``posters``: a folder of ``<movieId>.jpg``; without it the
    poster rows are skipped. ``image_weights``: ``imagenet``, ``none`` or a file. ``mode``:
    ``"cached"`` (train on the cached item vectors) or ``"end-to-end"`` (text and posters through
    the encoders every batch, as the paper; ``fine_tune_text`` trains BERT too, best with a small
    ``learning_rate`` such as 2e-5). ``variants`` defaults to every row the mode can train.
    """

    dataset: str = "ml-latest-small"
    data_dir: str | None = None
    posters: str | None = None
    text_encoder: str | None = None
    text_pooling: str = "cls"
    image_weights: str = "imagenet"
    preset: str = "default"
    epochs: int | None = None
    out_dir: str = "runs/hncf"
    seed: int = 0
    variants: tuple[str, ...] | None = None
    full_ranking: bool = True
    cache_dir: str | None = None
    resume: bool = False
    progress: bool = True
    mode: str = "cached"
    fine_tune_text: bool = False
    learning_rate: float | None = None

    def check(self) -> None:
        """Refuse bad settings before any work."""
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; known: {', '.join(PRESETS)}")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; known: {', '.join(MODES)}")
        if self.fine_tune_text and self.mode != "end-to-end":
            raise ValueError("fine-tuning the text encoder needs --mode end-to-end (cached vectors are frozen)")
        unknown = set(self.variants or ()) - set(ROW_LABELS)
        if unknown:
            raise ValueError(f"unknown variant(s) {sorted(unknown)}; known: {', '.join(ROW_LABELS)}")
        for name in ("epochs", "learning_rate"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")

    def rows(self) -> tuple[str, ...]:
        """The rows this run trains (poster rows only with posters)."""
        rows = self.variants or tuple(v for v in ROW_LABELS if self.mode == "cached" or v != "hncf_flag_only")
        return tuple(v for v in rows if self.posters or v not in ("hncf", "hncf_flag_only"))

    def preset_config(self) -> HNCFPreset:
        """The preset with this run's overrides applied."""
        cfg = PRESETS[self.preset]
        if self.epochs:
            cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=self.epochs))
        if self.learning_rate:
            cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, learning_rate=self.learning_rate))
        return cfg

    def fingerprint(self) -> dict:
        """What a checkpoint must have been written under for ``resume`` to continue it."""
        return {"system": "hncf", "dataset": self.dataset, "preset": self.preset, "seed": self.seed,
                "epochs": self.epochs, "learning_rate": self.learning_rate, "mode": self.mode,
                "fine_tune_text": self.fine_tune_text, "text_encoder": self.text_encoder,
                "text_pooling": self.text_pooling, "image_weights": str(self.image_weights)}


PROTOCOLS = {
    "loo": "leave-one-out (latest interaction) vs 99 sampled negatives; ties count against the positive",
    "loo_cold_items": f"leave-one-out, test items with fewer than {COLD_ITEM_THRESHOLD} training interactions",
    "loo_poster_items": "leave-one-out, users whose test item has a poster, 99 negatives drawn among poster items",
    "classification": "each test positive + 1 sampled negative, threshold 0.5 (the paper's 'Recall')",
    "full_ranking": "every item unseen in training ranked, top-10",
}
_VIEW_OF = {"loo": "sampled", "loo_cold_items": "sampled_cold_items", "loo_poster_items": "sampled_poster_items",
            "classification": "classification", "full_ranking": "full_ranking"}


def run_hncf(run: HNCFRun | None = None, data=None, tags: pd.DataFrame | None = None, **settings) -> dict:
    """Run the HNCF ablation and write ``metrics.json``, ``results.md`` and ``training_curves.png``.

    Give an :class:`HNCFRun` or its fields as keywords. ``data`` (a
    :class:`~hncf.data.MovieLensData`) and ``tags`` bypass the loaders.
    """
    run = dataclasses.replace(run or HNCFRun(), **settings)
    run.check()
    cfg, variants = run.preset_config(), run.rows()
    out = Path(run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    progress = run.progress
    # A terminal gets Keras' bars; logs and notebooks get about ten short lines per stage.
    verbose = 1 if progress and sys.stdout.isatty() else 0
    t_start = time.perf_counter()
    if data is None:
        log(f"loading {run.dataset}", progress)
        data = load_movielens(run.dataset, data_dir=run.data_dir, progress=progress)
    if tags is None and data.source is not None and (Path(data.source) / "tags.csv").exists():
        tags = load_tags(Path(data.source) / "tags.csv")
    split = prepare_loo(data.interactions, run.seed, out / f"test_negatives_{run.dataset}_seed{run.seed}.npz")
    log("building item features (cached per encoder and content)", progress)
    t0 = time.perf_counter()
    feats = prepare_item_features(data, split, tags, run.text_encoder or "bert_base_en_uncased", run.text_pooling,
                                  run.posters, run.image_weights, cfg.image_size, run.cache_dir, progress)
    features_seconds = time.perf_counter() - t0
    if feats.poster_report:
        log(f"posters: {feats.poster_report}", progress)
    # Built before any training, so a mode the encoder cannot serve fails at once.
    paths = {v: training_path(v, run.mode, split, feats, cfg, run.posters, run.image_weights, run.fine_tune_text,
                              progress) for v in variants}
    results, curves = {}, {}
    for k, variant in enumerate(variants, 1):
        log(f"training {ROW_LABELS[variant]} (row {k} of {len(variants)}, {time.perf_counter() - t_start:.0f} s "
            "elapsed)", progress)
        score_fn, record = fit_variant(paths[variant], split, cfg, run.seed, out / "checkpoints", run.resume, verbose,
                                       {**run.fingerprint(), "row": variant}, bundle_dir=out / "bundles" / "loo" / variant,
                                       item_info=data.items[[ITEM, "title", "genres"]], progress=progress)
        t0 = time.perf_counter()
        views = evaluate_variant(score_fn, split, feats, run.full_ranking, run.seed)
        record["eval_seconds"] = time.perf_counter() - t0
        results[variant] = (views, record)
        if record.get("resumed"):
            log(f"  resumed {ROW_LABELS[variant]} from its checkpoint", progress)
        curves[ROW_LABELS[variant]] = record.get("history", {})
        s = views["sampled"]
        log(f"  {ROW_LABELS[variant]}: HR@10 {s['hr@10']:.4f}, NDCG@10 {s['ndcg@10']:.4f}, "
            f"recall {views['classification']['recall']:.4f}", progress)
    report = hncf_report(run, split, feats, results, features_seconds)
    return write_outputs(out, report, results_markdown(report), curves,
                         f"HNCF ablation on {run.dataset} (seed {run.seed})", t_start, progress,
                         metric_key="val_hr@10")


def hncf_report(run: HNCFRun, split: PreparedSplit, feats: ItemFeatures, results: dict,
                features_seconds: float) -> dict:
    """The report of ``run`` (the shared schema of :mod:`hncf.pipeline.report`).

    ``results`` maps each trained variant, in training order, to ``(views, record)``: its
    :func:`evaluate_variant` views and its :func:`fit_variant` record. Each view becomes a protocol
    of the report; the record is kept under ``loo``, where the row was selected and trained.
    """
    cfg = run.preset_config()
    protocols = {name: {"protocol": text, **split.sizes, "models": {}} for name, text in PROTOCOLS.items()}
    for variant, (views, record) in results.items():
        protocols["loo"]["models"][variant] = {"metrics": views["sampled"], **record}
        for name, view in _VIEW_OF.items():
            if name != "loo" and view in views:
                protocols[name]["models"][variant] = {"metrics": views[view], "trained": "as in loo"}
    for name, p in protocols.items():
        p["paper"] = paper_rows(name, run.dataset)
    report = {
        "system": "hncf", "dataset": run.dataset, "preset": run.preset, "seed": run.seed,
        "run": dataclasses.asdict(run), "mode": run.mode, "fine_tune_text": run.fine_tune_text,
        "learning_rate": cfg.train.learning_rate,
        "text_encoder": feats.text_encoder, "poster_encoder": feats.poster_encoder,
        "image_weights": str(run.image_weights), "posters": feats.poster_report,
        "poster_share": {
            "test_items": float(feats.poster_mask[split.test[ITEM].to_numpy()].mean()),
            "test_negatives": float(feats.poster_mask[split.test_negatives].mean()),
        } if feats.poster_mask is not None else None,
        "features_seconds": features_seconds,
        "protocols": {name: p for name, p in protocols.items() if p["models"]},
    }
    return report


def row_views(report: dict, variant: str) -> dict:
    """A row's metrics under every protocol of the report: ``{protocol: metrics}``."""
    return {name: p["models"][variant]["metrics"] for name, p in report["protocols"].items()
            if variant in p["models"]}


def paper_beside(dataset: str) -> bool:
    """Whether Table III belongs beside a run on ``dataset``: ML-20M, or a sample of it labelled ``ml-20m-...``."""
    return dataset == "ml-20m" or dataset.startswith("ml-20m-")


def paper_rows(protocol: str, dataset: str) -> dict:
    """Table III's numbers that belong beside ``protocol`` on ``dataset`` ({} when none do).

    The paper reports recall (our classification protocol) and HR@10 (set beside our 1+99 HR@10,
    its protocol unstated) on a 1% sample of ML-20M only; on another dataset nothing is beside ours.
    """
    metric = PAPER_METRIC.get(protocol)
    if metric is None or not paper_beside(dataset):
        return {}
    return {v: {metric: p[metric]} for v, p in PAPER_TABLE3.items()}


def paper_note(dataset: str) -> str:
    """What the results say of Table III for a run on ``dataset``.

    Beside ML-20M: where the paper's columns come from. Elsewhere: that the paper reports on another
    dataset, with its numbers as one labelled reference line (never a column beside ours).
    """
    caveat = "its NCF HR@10 of 0.161 cannot come from the 1+99 protocol, where ids alone reach far higher"
    if paper_beside(dataset):
        ours = ("; this run uses the whole of ML-20M" if dataset == "ml-20m" else f"; this run's data: {dataset}")
        return (f"The paper's columns are its Table III, measured on {PAPER_DATA} with an unstated ranking "
                f"protocol{ours}; {caveat}.")
    ref = "; ".join(f"{ROW_LABELS[v]} recall {p['recall']:.3f}, HR@10 {p['hr@10']:.3f}"
                    for v, p in PAPER_TABLE3.items())
    return (f"The paper reports its Table III on {PAPER_DATA}, not on {dataset}, so its numbers are not set beside "
            f"ours; {caveat}.\n\n*Reference only (the paper's Table III, {PAPER_DATA}, ranking protocol unstated):* "
            f"{ref}.")


def results_markdown(report: dict) -> str:
    """Our rows (beside Table III of the paper when the run is on its dataset), then the extra checks, as markdown."""
    dataset = report["dataset"]
    beside = paper_beside(dataset)
    parts = [f"# HNCF ablation on {dataset} (preset {report['preset']}, seed {report['seed']})\n",
             f"Text encoder `{report['text_encoder']}`; poster encoder `{report['poster_encoder']}` "
             f"(weights {report['image_weights']}).\n"]
    rows = []
    loo = report["protocols"]["loo"]
    for variant, r in loo["models"].items():
        m = row_views(report, variant)
        paper = PAPER_TABLE3.get(variant, {})
        rows.append({
            "model": ROW_LABELS[variant], "paper recall": paper.get("recall"), "recall": m["classification"]["recall"],
            "AUC": m["classification"]["auc"], "paper HR@10": paper.get("hr@10"),
            "HR@10 (1+99)": m["loo"]["hr@10"], "NDCG@10 (1+99)": m["loo"]["ndcg@10"],
            "HR@10 full": m.get("full_ranking", {}).get("hr@10"),
            "HR@10 cold items": m.get("loo_cold_items", {}).get("hr@10"),
            "HR@10 poster items": m.get("loo_poster_items", {}).get("hr@10"),
            "train s": f"{r['train_seconds']:.1f}"})
    cols = ["model", "paper recall", "recall", "AUC", "paper HR@10", "HR@10 (1+99)", "NDCG@10 (1+99)", "HR@10 full",
            "HR@10 cold items", "HR@10 poster items", "train s"]
    if not beside:
        cols = [c for c in cols if not c.startswith("paper ")]
    parts.append(markdown_table(rows, cols))
    share = report.get("poster_share")
    if share:
        parts.append(f"\nPosters are not missing at random: {share['test_items']:.1%} of held-out items have one, "
                     f"against {share['test_negatives']:.1%} of the sampled negatives. Compare HNCF with the "
                     f"pixels-zeroed row to see what the images add beyond the flag.")
    parts.append("\n" + paper_note(dataset))
    return "\n".join(parts) + "\n"
