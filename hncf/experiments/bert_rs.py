"""Reproduce BERT-RS (the second paper) on Amazon reviews, with the leak the paper's setup has closed.

Pipeline: load reviews -> split -> encode every review once (frozen BERT-family encoder, cached)
-> review vectors per pair -> train BERT-RS and the baselines through the shared select-then-refit
stage -> evaluate under two protocols -> report.

Where the review vector ``r`` of a scored (user, item) pair comes from is the whole question:

* ``paper-literal``: the review the user wrote of that very item (the paper's eq. 7 input). A pair
  the user never reviewed has no review, so its vector is zeros. Ranking then leaks the answer: the
  held-out item is the only candidate with a review.
* ``deployable`` (default): ``r = (d_u + d_i) / 2``, the mean of the user's review document
  ``d_u`` (the mean vector of the user's training reviews) and the item's ``d_i`` (the mean vector
  of the item's training reviews); zeros where there is none. Only training reviews are used:
  while selecting epochs, the validation carve-out's reviews are left out too.

Protocols: ``loo`` (each user's latest review held out, ranked against 99 sampled items the user
never reviewed; HR@K and NDCG@K for K = 1, 3, 5, 10; plus full-ranking HR@10) and ``paper`` (a
shuffled 70/30 split of the reviews; each test user's held-out items ranked among as many sampled
negatives, the paper's 1:1 sampling; HR@K, NDCG@K). Baselines on the same split, selected on
validation: popularity, GMF, MLP, NeuMF, biased MF, EASE, and a text-only score (cosine of
``d_u`` and ``d_i``).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from hncf.data.amazon import TEXT, load_reviews
from hncf.data.sampling import sample_test_negatives
from hncf.data.schema import ITEM, USER
from hncf.data.splits import random_split
from hncf.encoders.cache import FeatureCache, content_hash
from hncf.encoders.text import load_text_encoder
from hncf.evaluation import evaluate_full_ranking, evaluate_rows, evaluate_sampled, markdown_table
from hncf.generators import PairFeatureSampler
from hncf.models.bert_rs import BertRSConfig, build_bert_rs
from hncf.pipeline import (
    PreparedSplit,
    carve_validation,
    encode_split,
    log,
    prepare_loo,
    select_then_refit,
    write_outputs,
)
from hncf.pipeline.baselines import ModelSpec, fit_ease, fit_row
from hncf.training import TrainConfig, make_score_fn

MODES = ("deployable", "paper-literal")
PROTOCOLS = ("loo", "paper")
KS = (1, 3, 5, 10)
# Table 2 of the paper (Amazon Books; 1:1 negatives, shuffled 70/30).
PAPER_TABLE2 = {
    "BERT-RS": {"hr@10": 0.534, "ndcg@10": 0.393, "hr@5": 0.446, "ndcg@5": 0.365, "hr@3": 0.390, "ndcg@3": 0.342,
                "hr@1": 0.276, "ndcg@1": 0.276},
    "NeuMF": {"hr@10": 0.460, "ndcg@10": 0.315, "hr@5": 0.355, "ndcg@5": 0.281, "hr@3": 0.298, "ndcg@3": 0.258,
              "hr@1": 0.202, "ndcg@1": 0.202},
    "MLP": {"hr@10": 0.440, "ndcg@10": 0.286, "hr@5": 0.336, "ndcg@5": 0.252, "hr@3": 0.269, "ndcg@3": 0.225,
            "hr@1": 0.164, "ndcg@1": 0.164},
    "GMF": {"hr@10": 0.438, "ndcg@10": 0.289, "hr@5": 0.333, "ndcg@5": 0.255, "hr@3": 0.274, "ndcg@3": 0.231,
            "hr@1": 0.171, "ndcg@1": 0.171},
}
ID_ONLY = ("Popularity", "GMF", "MLP", "NeuMF", "MF (dot product + biases)", "EASE")
# Pairs scored per call: each carries a review vector (and float64 documents while it is built), so the
# default 65,536-pair chunks of a full ranking held several GB; smaller chunks give the same scores.
SCORE_CHUNK = 1 << 13


@dataclass(frozen=True)
class BertRSPreset:
    """How BERT-RS and the neural baselines train."""

    train: TrainConfig
    model: BertRSConfig = field(default_factory=BertRSConfig)
    validate: bool = True


PRESETS = {
    # Section 4.2: Adam 1e-4, 32 predictive factors, 3 MLP layers; 1:1 negatives (sec. 4.1). No epoch count or
    # selection is stated: 20 epochs, the last kept.
    "paper": BertRSPreset(TrainConfig(epochs=20, batch_size=256, learning_rate=1e-4, n_neg=1), validate=False),
    "default": BertRSPreset(TrainConfig(epochs=30, batch_size=256, learning_rate=1e-3, n_neg=4, patience=3)),
    "tiny": BertRSPreset(TrainConfig(epochs=2, batch_size=256, learning_rate=3e-3, n_neg=2, patience=2),
                         BertRSConfig(semantic_dim=8, n_factors=4, mlp_layers=(16, 8, 4))),
}


@dataclass
class BertRSRun:
    """One ``reproduce bert-rs`` run (what the CLI flags or a notebook's parameters cell set)."""

    reviews: str = ""
    dataset: str | None = None
    modes: tuple[str, ...] = MODES
    protocols: tuple[str, ...] = PROTOCOLS
    min_user_reviews: int = 5
    min_item_reviews: int = 5
    n_users: int | None = None
    text_encoder: str | None = None
    text_pooling: str = "mean"
    review_tokens: int = 128  # reviews are cut to this many word pieces before BERT
    preset: str = "default"
    epochs: int | None = None
    out_dir: str = "runs/bert-rs"
    seed: int = 0
    cache_dir: str | None = None
    resume: bool = False
    progress: bool = True

    def check(self) -> None:
        """Refuse bad settings before any work."""
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; known: {', '.join(PRESETS)}")
        bad = [m for m in self.modes if m not in MODES] + [p for p in self.protocols if p not in PROTOCOLS]
        if bad or not self.modes or not self.protocols:
            raise ValueError(f"unknown mode or protocol {bad}; modes: {', '.join(MODES)}; protocols: "
                             f"{', '.join(PROTOCOLS)}")
        if self.min_user_reviews < 1 or self.min_item_reviews < 1:
            raise ValueError("--min-user-reviews and --min-item-reviews must be >= 1")

    def fingerprint(self) -> dict:
        """What a checkpoint must have been written under for ``resume`` to continue it."""
        return {"system": "bert-rs", "reviews": str(self.reviews), "preset": self.preset, "seed": self.seed,
                "epochs": self.epochs, "min_user": self.min_user_reviews, "min_item": self.min_item_reviews,
                "n_users": self.n_users, "text_encoder": self.text_encoder}


# ---------------------------------------------------------------------------
# Review vectors
# ---------------------------------------------------------------------------


# Below this share of reviews with a text, the text-only and BERT-RS rows would describe a model that saw
# (almost) no text: an error, not a result. Any smaller lack is counted and stated in results.md.
MIN_TEXT_SHARE = 0.5


def review_text_counts(reviews: pd.DataFrame, source) -> dict:
    """How many of ``reviews`` have a text; a ``ValueError`` naming ``source`` below :data:`MIN_TEXT_SHARE`."""
    n, with_text = len(reviews), int(reviews["has_text"].sum())
    if with_text < MIN_TEXT_SHARE * n:
        raise ValueError(f"{source}: only {with_text:,} of {n:,} reviews kept ({with_text / max(n, 1):.1%}) have a "
                         f"text (reviewText or summary); BERT-RS needs at least {MIN_TEXT_SHARE:.0%}, or its text "
                         "rows would come from a model that saw (almost) no text")
    return {"reviews": n, "with_text": with_text, "without_text": n - with_text}


def encode_reviews(reviews: pd.DataFrame, encoder_spec: str, pooling: str, cache_dir, progress: bool,
                   sequence_length: int = 128):
    """Every review's vector (zeros for an empty text), encoded once and cached by content."""
    from hncf.experiments.hncf import default_feature_cache_dir

    enc = load_text_encoder(encoder_spec, pooling=pooling, sequence_length=sequence_length)
    cache = FeatureCache(cache_dir or default_feature_cache_dir())
    has = reviews["has_text"].to_numpy()
    texts = reviews[TEXT].to_numpy(dtype=object)
    ids = (reviews[USER] + "|" + reviews[ITEM]).to_numpy()
    out = np.zeros((len(reviews), enc.dim), np.float32)
    pos = np.flatnonzero(has)
    if pos.size:
        out[pos] = cache.get_or_compute(
            enc.name, ids[pos], [content_hash(t) for t in texts[pos]],
            lambda p: enc.encode(texts[pos][p], batch_size=64, progress=False), batch_size=1024, progress=progress)
    return out, enc


class ReviewDocuments:
    """Per user and per item: the mean vector of their reviews among ``source`` (training data only).

    A pair that is itself one of the source reviews gets documents without that review (the mean
    of the user's and the item's *other* reviews), so a training positive looks like a candidate
    at test time, whose review is never in the documents.
    """

    def __init__(self, source: pd.DataFrame, vectors: np.ndarray, n_users: int, n_items: int):
        u, i, r = source[USER].to_numpy(), source[ITEM].to_numpy(), source["review"].to_numpy()
        v = vectors[r].astype(np.float64)
        self.user_sum = np.zeros((n_users, vectors.shape[1]))
        self.item_sum = np.zeros((n_items, vectors.shape[1]))
        np.add.at(self.user_sum, u, v)
        np.add.at(self.item_sum, i, v)
        self.user_count = np.bincount(u, minlength=n_users).astype(np.float64)
        self.item_count = np.bincount(i, minlength=n_items).astype(np.float64)
        self.own = PairReviews(u, i, r, vectors, n_items)

    def pair_vectors(self, users, items) -> np.ndarray:
        """``(d_u + d_i) / 2`` for each pair, leaving the pair's own review out of both documents."""
        users, items = np.asarray(users), np.asarray(items)
        own, found = self.own.lookup(users, items)
        su, si = self.user_sum[users] - own, self.item_sum[items] - own
        cu = self.user_count[users] - found
        ci = self.item_count[items] - found
        du = su / np.maximum(cu, 1.0)[:, None]
        di = si / np.maximum(ci, 1.0)[:, None]
        return (0.5 * (du + di)).astype(np.float32)


class PairReviews:
    """The paper-literal input: the review of the very pair (zeros when the user never reviewed the item)."""

    def __init__(self, users, items, review_rows, vectors: np.ndarray, n_items: int):
        keys = np.asarray(users, np.int64) * n_items + np.asarray(items, np.int64)
        order = np.argsort(keys)
        self.keys, self.rows, self.vectors, self.n_items = keys[order], np.asarray(review_rows)[order], vectors, n_items

    def lookup(self, users, items) -> tuple[np.ndarray, np.ndarray]:
        """``(vectors, found)``: each pair's review vector (zeros where none) and whether it has one."""
        q = np.asarray(users, np.int64) * self.n_items + np.asarray(items, np.int64)
        out = np.zeros((len(q), self.vectors.shape[1]), np.float32)
        if not len(self.keys):
            return out, np.zeros(len(q), bool)
        pos = np.minimum(np.searchsorted(self.keys, q), len(self.keys) - 1)
        found = self.keys[pos] == q
        out[found] = self.vectors[self.rows[pos[found]]]
        return out, found

    def pair_vectors(self, users, items) -> np.ndarray:
        """The pair's review vector, or zeros."""
        return self.lookup(users, items)[0]


def review_inputs(mode: str, split: PreparedSplit, vectors: np.ndarray, stage: str, all_pairs: pd.DataFrame):
    """``pair_features(users, items) -> {"review_vector": ...}`` for ``mode`` and training ``stage``.

    Deployable documents come from the training reviews of the stage (``"selection"`` leaves the
    validation reviews out as well). Paper-literal looks the pair up among *every* review, test
    reviews included, which is the paper's setup and the leak.
    """
    n_users, n_items = len(split.users), len(split.items)
    if mode == "deployable":
        source = split.train if stage == "selection" else split.full_train
        docs = ReviewDocuments(source, vectors, n_users, n_items)
        return lambda u, i: {"review_vector": docs.pair_vectors(u, i)}
    lookup = PairReviews(all_pairs[USER], all_pairs[ITEM], all_pairs["review"], vectors, n_items)
    return lambda u, i: {"review_vector": lookup.pair_vectors(u, i)}


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------


def prepare_paper_split(interactions: pd.DataFrame, seed: int) -> PreparedSplit:
    """The paper's split: the reviews shuffled 70/30; test rows of unseen users or items dropped."""
    train, test = random_split(interactions, 0.7, seed=seed)
    users, items, train, test, all_csr = encode_split(train, test)
    fit_part, val = carve_validation(train, seed, all_csr)
    return PreparedSplit(users, items, fit_part, train, test, val, all_interactions=all_csr)


def evaluate_paper_protocol(score_fn, split: PreparedSplit, seed: int) -> dict:
    """Each test user's held-out items ranked among as many sampled negatives (1:1); HR@K and NDCG@K."""
    test = split.test
    users = np.unique(test[USER].to_numpy())
    n_items = len(split.items)
    counts = test.groupby(USER).size().reindex(users).to_numpy()
    need = int(counts.max())
    negs = sample_test_negatives(split.all_interactions, users, n_neg=min(need, n_items - 1), seed=seed + 11)
    keep = np.arange(negs.shape[1])[None, :] < counts[:, None]
    cand_rows = np.repeat(np.arange(len(users)), keep.sum(1))
    cand_items = negs[keep]
    pos_rows = np.searchsorted(users, test[USER].to_numpy())
    rows = np.r_[cand_rows, pos_rows]
    items = np.r_[cand_items, test[ITEM].to_numpy()]
    scores = np.full((len(users), n_items), -np.inf)
    scores[rows, items] = score_fn(users[rows], items)
    relevant = [g.to_numpy() for _, g in test.groupby(USER)[ITEM]]
    excluded = [np.flatnonzero(np.isneginf(r)) for r in scores]
    out = evaluate_rows(np.where(np.isneginf(scores), 0.0, scores), relevant, exclude=excluded, ks=KS)
    return {k: v for k, v in out.items() if k.startswith(("hr@", "ndcg@")) or k == "n_rows"}


def evaluate_loo(score_fn, split: PreparedSplit) -> dict:
    """HR@K, NDCG@K (K = 1, 3, 5, 10) against the 99 saved negatives, and full-ranking HR@10."""
    tu, ti = split.test[USER].to_numpy(), split.test[ITEM].to_numpy()
    out = evaluate_sampled(score_fn, tu, ti, split.test_negatives, ks=KS)
    full = evaluate_full_ranking(score_fn, split.full_train[USER].to_numpy(), split.full_train[ITEM].to_numpy(),
                                 split.test, len(split.items), k=10)
    out["full_hr@10"], out["full_ndcg@10"] = full["hr@10"], full["ndcg@10"]
    return out


# ---------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------


def fit_bert_rs(mode: str, split: PreparedSplit, vectors: np.ndarray, all_pairs: pd.DataFrame, preset: BertRSPreset,
                seed: int, ckpt: Path | None, resume: bool, verbose, run_config: dict, progress: bool):
    """Train one BERT-RS row through the shared select-then-refit stage; returns (score_fn, record)."""
    n_users, n_items, dim = len(split.users), len(split.items), vectors.shape[1]
    inputs = {stage: review_inputs(mode, split, vectors, stage, all_pairs) for stage in ("selection", "final")}

    def build(stage: str):
        train = split.stage_train(stage)
        cfg = preset.train
        keras.utils.set_random_seed(seed)
        model = build_bert_rs(n_users, n_items, dim, preset.model, seed=seed)
        model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss=keras.losses.BinaryCrossentropy(),
                      steps_per_execution=cfg.resolved_steps_per_execution(), jit_compile=False)
        sampler = PairFeatureSampler(train[USER].to_numpy(), train[ITEM].to_numpy(), n_users, n_items, inputs[stage],
                                     n_neg=cfg.n_neg, batch_size=cfg.batch_size, seed=seed,
                                     exclude=split.stage_csr(stage))
        return model, sampler

    validation = None
    if preset.validate:
        validation = dataclasses.replace(split.validation, score_fn_factory=lambda m: make_score_fn(
            m, batch_size=SCORE_CHUNK, pair_features=inputs["selection"]))
    model, record = select_then_refit(build, preset.train, validation, checkpoint_dir=ckpt, resume=resume,
                                      verbose=verbose, run_config=run_config, progress=progress and not verbose)
    record.update(mode=mode, model=preset.model.to_dict())
    return make_score_fn(model, batch_size=SCORE_CHUNK, pair_features=inputs["final"]), record


def text_only_score(split: PreparedSplit, vectors: np.ndarray):
    """Cosine between the user's and the item's training review documents (no learning)."""
    docs = ReviewDocuments(split.full_train, vectors, len(split.users), len(split.items))

    def unit(x):
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    u = unit(docs.user_sum / np.maximum(docs.user_count, 1.0)[:, None])
    i = unit(docs.item_sum / np.maximum(docs.item_count, 1.0)[:, None])
    return lambda users, items: np.einsum("nd,nd->n", u[np.asarray(users)], i[np.asarray(items)])


def _baseline_specs(preset: BertRSPreset) -> list[ModelSpec]:
    cfg, m = preset.train, preset.model
    sizes = {"gmf": {"n_factors": m.n_factors}, "mlp": {"layers": m.mlp_layers},
             "neumf": {"n_factors": m.n_factors, "layers": m.mlp_layers}, "mf": {"n_factors": m.n_factors}}
    return [ModelSpec("Popularity", "popularity")] + [
        ModelSpec(label, kind, sizes[kind], cfg, preset.validate)
        for kind, label in (("gmf", "GMF"), ("mlp", "MLP"), ("neumf", "NeuMF"), ("mf", "MF (dot product + biases)"))]


def row_label(mode: str) -> str:
    """The report row of BERT-RS in ``mode``."""
    return f"BERT-RS ({mode})"


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


def run_bert_rs(run: BertRSRun | None = None, data: pd.DataFrame | None = None, **settings) -> dict:
    """Run the BERT-RS reproduction and write ``metrics.json``, ``results.md`` and ``training_curves.png``.

    Give a :class:`BertRSRun` or its fields as keywords (``reviews`` is the review file).
    ``data`` (a frame as :func:`hncf.data.amazon.read_reviews` returns) bypasses the loader.
    """
    run = dataclasses.replace(run or BertRSRun(), **settings)
    run.check()
    preset = PRESETS[run.preset]
    if run.epochs:
        preset = dataclasses.replace(preset, train=dataclasses.replace(preset.train, epochs=run.epochs))
    out = Path(run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    verbose = 1 if run.progress and sys.stdout.isatty() else 0
    t_start = time.perf_counter()
    load_report, reviews = None, data
    if reviews is None:
        log(f"loading {run.reviews}", run.progress)
        reviews, rep = load_reviews(run.reviews, run.min_user_reviews, run.min_item_reviews, run.n_users, run.seed,
                                    progress=run.progress)
        load_report = rep.summary()
    reviews = reviews.reset_index(drop=True)
    texts = review_text_counts(reviews, run.reviews or "the reviews given")
    if texts["without_text"]:
        log(f"warning: {texts['without_text']:,} of {texts['reviews']:,} reviews have no text (their vectors are "
            "zeros; stated in results.md)", run.progress)
    from hncf.experiments.quick import minilm_path

    spec = run.text_encoder or minilm_path()
    log(f"encoding {len(reviews):,} reviews (once; cached by content)", run.progress)
    t0 = time.perf_counter()
    vectors, enc = encode_reviews(reviews, spec, run.text_pooling, run.cache_dir, run.progress, run.review_tokens)
    encode_seconds = time.perf_counter() - t0
    interactions = reviews[[USER, ITEM, "rating", "timestamp"]].assign(review=np.arange(len(reviews)))
    report = {"system": "bert-rs", "dataset": run.dataset or Path(str(run.reviews)).name or "reviews",
              "preset": run.preset, "seed": run.seed, "run": dataclasses.asdict(run), "text_encoder": enc.name,
              "load_report": load_report, "n_reviews": len(reviews), "review_texts": texts,
              "encode_seconds": encode_seconds,
              "protocols": {}}
    curves = {}
    for protocol in run.protocols:
        if protocol == "loo":
            split = prepare_loo(interactions, run.seed, out / f"test_negatives_seed{run.seed}.npz")
            evaluate = lambda fn, sp=split: evaluate_loo(fn, sp)  # noqa: E731
        else:
            split = prepare_paper_split(interactions, run.seed)
            evaluate = lambda fn, sp=split: evaluate_paper_protocol(fn, sp, run.seed)  # noqa: E731
        all_pairs = pd.concat([split.full_train, split.test])[[USER, ITEM, "review"]]
        rows, trained = {}, {}
        specs = _baseline_specs(preset)
        n_rows = len(specs) + 2 + len(run.modes)
        k = 0

        def record_row(label, score_fn, record):
            nonlocal k
            t0 = time.perf_counter()
            rows[label] = {"metrics": evaluate(score_fn), **record, "eval_seconds": time.perf_counter() - t0}
            curves[f"{protocol}/{label}"] = record.get("history", {})
            m = rows[label]["metrics"]
            log(f"  {label}: HR@10 {m['hr@10']:.4f}, NDCG@10 {m['ndcg@10']:.4f}", run.progress)

        def announce(label):
            nonlocal k
            k += 1
            log(f"{protocol}: {label} (row {k} of {n_rows}, {time.perf_counter() - t_start:.0f} s elapsed)",
                run.progress)

        base = {**run.fingerprint(), "protocol": protocol}
        for spec_ in specs:
            announce(spec_.label)
            score_fn, record = fit_row(spec_, split, run.seed, out / "checkpoints" / protocol, run.resume, trained,
                                       verbose, {**base, "row": spec_.label}, progress=run.progress)
            record_row(spec_.label, score_fn, record)
        announce("EASE")
        record_row("EASE", *fit_ease(split))
        announce("Text only")
        record_row("Text only (cosine of review documents)", text_only_score(split, vectors), {"train_seconds": 0.0})
        for mode in run.modes:
            announce(row_label(mode))
            score_fn, record = fit_bert_rs(mode, split, vectors, all_pairs, preset, run.seed,
                                           out / "checkpoints" / protocol / mode, run.resume, verbose,
                                           {**base, "row": mode}, run.progress)
            record_row(row_label(mode), score_fn, record)
        report["protocols"][protocol] = {
            "protocol": PROTOCOL_TEXT[protocol], **split.sizes,
            "paper": PAPER_TABLE2 if protocol == "paper" else {}, "models": rows}
    return write_outputs(out, report, results_markdown(report), curves, f"BERT-RS on {report['dataset']}",
                         t_start, run.progress, metric_key="val_hr@10")


PROTOCOL_TEXT = {
    "loo": "leave-one-out: each user's latest review held out, ranked against 99 sampled unreviewed items "
           "(ties against the positive); full_hr@10 ranks every item unseen in training",
    "paper": "the paper's: reviews shuffled 70/30; each test user's held-out items ranked among as many sampled "
             "negatives (1:1)",
}


def best_id_only(protocol: dict, metric: str = "hr@10") -> tuple[str, float]:
    """The id-only baseline with the highest ``metric``."""
    cands = [(name, protocol["models"][name]["metrics"][metric]) for name in ID_ONLY if name in protocol["models"]]
    return max(cands, key=lambda t: t[1])


def results_markdown(report: dict) -> str:
    """Table-2-shaped tables per protocol, the paper's rows beside the paper protocol's."""
    cols = ["hr@10", "ndcg@10", "hr@5", "ndcg@5", "hr@3", "ndcg@3", "hr@1", "ndcg@1"]
    parts = [f"# BERT-RS on {report['dataset']} (preset {report['preset']}, seed {report['seed']})\n",
             f"{report['n_reviews']:,} reviews; text encoder `{report['text_encoder']}`.\n"]
    texts = report.get("review_texts") or {}
    if texts.get("without_text"):
        parts.append(f"**Warning**: {texts['without_text']:,} of {texts['reviews']:,} reviews "
                     f"({texts['without_text'] / texts['reviews']:.1%}) have no text (neither reviewText nor summary); "
                     "their review vectors are zeros, so the text-only and BERT-RS rows saw no text for them.\n")
    for name, p in report["protocols"].items():
        parts.append(f"## Protocol `{name}`: {p['protocol']} ({p['n_test']} test rows, {p['n_users']} users, "
                     f"{p['n_items']} items)\n")
        extra = ["full_hr@10"] if name == "loo" else []
        rows = [{"model": label, **{c: r["metrics"].get(c) for c in cols + extra},
                 "train s": f"{r.get('train_seconds', 0.0):.1f}"} for label, r in p["models"].items()]
        rows += [{"model": f"paper: {label}", **vals} for label, vals in p.get("paper", {}).items()]
        parts.append(markdown_table(rows, ["model", *cols, *extra, "train s"]))
        dep = p["models"].get(row_label("deployable"))
        if dep:
            best, value = best_id_only(p)
            diff = dep["metrics"]["hr@10"] - value
            parts.append(f"\nBERT-RS deployable against the best id-only baseline ({best}): HR@10 {diff:+.4f} "
                         f"({'beats it' if diff > 0 else 'does not beat it'} on this seed).")
        lit = p["models"].get(row_label("paper-literal"))
        if lit and dep:
            parts.append(f"The paper-literal row reads the held-out pair's own review, which no unseen candidate "
                         f"has: HR@10 {lit['metrics']['hr@10']:.4f} against {dep['metrics']['hr@10']:.4f} deployable "
                         "is the size of the leak, not of a better model.\n")
    return "\n".join(parts) + "\n"
