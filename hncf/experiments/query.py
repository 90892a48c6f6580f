"""The BERT query recommender on ReDial: examples, baselines, training, two evaluation views, a saved bundle.

Pipeline (:func:`run_query`): read the dialogue files and the catalogue; split dialogues with a seed
into train / validation / test (or train on every dialogue and score ``test_file``); build examples
(``dialogue``: the paper's; ``turn``: CRSLab's); encode every request text once with a frozen text
encoder (vectors cached by content hash); score the baselines; train the variants on the cached
vectors through :func:`hncf.pipeline.select_then_refit` (the epoch selected on the mean of both
views' validation nDCG@10, then a refit on train + validation dialogues); evaluate everything over
the full catalogue in two views; save the variant with the best validation score as a bundle that
``recommend-text`` loads.

Views: ``all`` (every target counts and nothing is excluded, as CRSLab/UniCRS) and ``new`` (targets
already mentioned in the input removed, and mentioned movies never ranked). Per-turn rows are
expanded to one row per target movie as CRSLab does (so Recall@k equals HR@k there); per-dialogue
rows keep all their targets (Recall@k is the share of the dialogue's suggested movies in the top k).
MRR is MRR@50. Ties: lower catalogue index first.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from hncf.data import redial as R
from hncf.evaluation import evaluate_rows, markdown_table, write_json
from hncf.pipeline.report import log, machine_info
from hncf.pipeline.seeds import summarise_seeds

METRICS = ("ndcg@10", "recall@1", "recall@10", "recall@50", "hr@10", "mrr")
KS = (1, 10, 50)
VIEWS = ("all", "new")
BASELINES = ("popularity", "repetition", "cooccurrence", "text_retrieval")
ALL_VARIANTS = ("bert", "rnn", "tags")
# ReDial anchors per recommending turn, all targets, Recall@1/@10/@50 (issue 9; MCCRS Table 3, UniCRS).
ANCHORS = {"popularity (MCCRS)": (0.012, 0.061, 0.179), "text-only BERT (MCCRS)": (0.014, 0.117, 0.191),
           "KBRD": (0.030, 0.163, 0.338), "KGSF": (0.039, 0.183, 0.378), "UniCRS": (0.051, 0.224, 0.428)}


@dataclass
class QueryPreset:
    """Hyperparameters of one run; ``paper`` is the paper's, ``default`` ours for CPU with cached vectors."""

    learning_rate: float = 1e-3
    batch_size: int = 32
    tag_batch_size: int = 64
    epochs: int = 40
    patience: int | None = 6
    hidden: int = 256
    dropout: float = 0.3
    rnn_embedding: int = 256
    rnn_hidden: int = 128
    max_mentions: int = 20
    copy_mentions: bool = True
    cooccurrence: int = 100  # neighbours per movie in the co-occurrence prior (0 = off)
    prior_alphas: tuple = (0.5, 1.0, 2.0, 3.0, 4.0)  # starting weights of the prior tried on validation
    movie_text: bool = True  # also score movies by their own text vectors (an output layer tied to content)
    popularity_bias: bool = True  # start the logits at the log-odds of training popularity
    refit: bool = True  # after selecting the epoch on validation, retrain on train + validation dialogues
    mention_style: str = "title"  # how mentions appear in the text of every variant
    rnn_mention_style: str = "title"  # the paper replaces them by a placeholder for the RNN variant
    sequence_length: int = 256


PRESETS = {
    "paper": QueryPreset(learning_rate=1e-5, batch_size=8, tag_batch_size=64, epochs=200, patience=None,
                         copy_mentions=False, cooccurrence=0, movie_text=False, popularity_bias=False, mention_style="token",
                         rnn_mention_style="placeholder", refit=False),
    "default": QueryPreset(),
    "tiny": QueryPreset(batch_size=16, epochs=3, patience=None, hidden=16, rnn_embedding=8, rnn_hidden=8,
                        max_mentions=8, cooccurrence=8, sequence_length=32),
}


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


@dataclass
class QuerySplit:
    """Examples of each split over one catalogue, with where they came from."""

    catalogue: pd.DataFrame
    train: R.Examples
    validation: R.Examples
    test: R.Examples
    train_dialogues: list
    reports: list
    description: str
    validation_dialogues: list = ()


def load_dialogue_files(files) -> tuple[list, list]:
    """Read several JSON-lines files: ``(dialogues, reports)``; conversation ids repeated across files are dropped."""
    dialogues, reports, seen = [], [], set()
    for f in files:
        ds, rep = R.read_dialogues(f)
        for d in ds:
            if d.conversation_id in seen:
                rep.malformed.append((d.line, f"conversationId {d.conversation_id} already read from another file"))
                continue
            seen.add(d.conversation_id)
            dialogues.append(d)
        reports.append(rep)
    return dialogues, reports


def prepare_split(files, catalogue_path, seed: int, construction: str = "dialogue", test_file=None,
                  validation: float = 0.1, test: float = 0.2) -> QuerySplit:
    """Read, split by dialogue with ``seed`` (or hold out ``test_file`` whole), and build the examples."""
    catalogue = R.read_catalogue(catalogue_path)
    dialogues, reports = load_dialogue_files(files)
    if test_file is not None:
        test_dialogues, test_reports = load_dialogue_files([test_file])
        reports += test_reports
        train, val, _ = R.split_dialogues(dialogues, seed, validation=validation, test=0.0)
        desc = f"train/validation {len(train)}/{len(val)} dialogues of {len(files)} file(s); test = {test_file}"
    else:
        train, val, test_dialogues = R.split_dialogues(dialogues, seed, validation=validation, test=test)
        desc = f"{len(train)}/{len(val)}/{len(test_dialogues)} dialogues (train/validation/test, seed {seed})"
    build = lambda ds: R.build_examples(ds, catalogue, construction)  # noqa: E731
    return QuerySplit(catalogue, build(train), build(val), build(test_dialogues), train, reports, desc, list(val))


def training_popularity(train_dialogues, catalogue: pd.DataFrame) -> np.ndarray:
    """Mentions of each catalogue movie in the training dialogues' messages (not ``nbMentions``, which counts test dialogues too)."""
    index = pd.Index(catalogue["movie_id"].astype(str))
    ids = [mid for d in train_dialogues for m in d.messages for mid in R.MENTION_RE.findall(m.text)]
    pos = index.get_indexer(ids)
    return np.bincount(pos[pos >= 0], minlength=len(catalogue)).astype(np.float64)


# ---------------------------------------------------------------------------
# Baselines: each returns scores [n_examples, n_movies]
# ---------------------------------------------------------------------------


def _mention_matrix(examples: R.Examples, n_movies: int):
    from scipy import sparse

    rows = np.repeat(np.arange(len(examples)), [len(m) for m in examples.mentions])
    cols = np.concatenate(examples.mentions) if rows.size else np.zeros(0, np.int64)
    m = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(len(examples), n_movies))
    m.data[:] = 1.0  # duplicates summed by csr_matrix: back to 0/1
    return m


def popularity_scores(pop: np.ndarray, n_rows: int) -> np.ndarray:
    """Every row ranks movies by training mentions."""
    return np.broadcast_to(pop / (pop.max() + 1.0), (n_rows, pop.size))


def repetition_scores(examples: R.Examples, pop: np.ndarray) -> np.ndarray:
    """Movies mentioned so far, most recent first, then popularity (the repetition floor)."""
    s = np.array(popularity_scores(pop, len(examples)))
    lengths = np.array([len(m) for m in examples.mentions])
    if lengths.sum():
        rows = np.repeat(np.arange(len(examples)), lengths)
        cols = np.concatenate(examples.mentions)
        order = np.concatenate([np.arange(n) for n in lengths]) + 2.0  # later mention -> larger score
        np.maximum.at(s, (rows, cols), order)
    return s


def cooccurrence_matrix(dialogues, catalogue: pd.DataFrame):
    """Square sparse matrix: how many of ``dialogues`` mention both movies (diagonal zero)."""
    from scipy import sparse

    index = pd.Index(catalogue["movie_id"].astype(str))
    ids = [[mid for m in d.messages for mid in R.MENTION_RE.findall(m.text)] for d in dialogues]
    lengths = np.array([len(i) for i in ids], dtype=np.int64)
    pos = index.get_indexer([mid for i in ids for mid in i])
    rows = np.repeat(np.arange(len(dialogues)), lengths)
    keep = pos >= 0
    x = sparse.csr_matrix((np.ones(int(keep.sum())), (rows[keep], pos[keep])),
                          shape=(len(dialogues), len(catalogue)))
    x.data[:] = 1.0  # a movie mentioned twice in one dialogue counts once
    c = (x.T @ x).tocsr()
    c.setdiag(0)
    c.eliminate_zeros()
    return c


def cooccurrence_scores(examples: R.Examples, train_dialogues, catalogue: pd.DataFrame, pop: np.ndarray) -> np.ndarray:
    """Sum over the mentioned movies of how often each movie shared a training dialogue with them; popularity breaks ties."""
    c = cooccurrence_matrix(train_dialogues, catalogue)
    s = np.asarray((_mention_matrix(examples, len(catalogue)) @ c).todense(), dtype=np.float64)
    return s + popularity_scores(pop, len(examples))


def text_retrieval_scores(request_vectors: np.ndarray, movie_vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity between each request and each movie's text (zero training)."""
    def unit(v):
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return unit(request_vectors) @ unit(movie_vectors).T


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


def _view_lists(examples: R.Examples, view: str, per_target: bool):
    """``(row_of, relevant, exclude)``: which example each evaluation row scores, its targets, its exclusions."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected {VIEWS}")
    targets = examples.targets if view == "all" else examples.new_targets()
    exclude = None if view == "all" else [np.unique(m) for m in examples.mentions]
    if not per_target:
        return np.arange(len(examples)), targets, exclude
    counts = np.array([len(t) for t in targets])
    row_of = np.repeat(np.arange(len(examples)), counts)
    relevant = [np.array([i]) for t in targets for i in t]
    ex = None if exclude is None else [exclude[r] for r in row_of]
    return row_of, relevant, ex


def evaluate_scores(scores, examples: R.Examples, view: str) -> dict:
    """The view's metrics (``METRICS``) for score rows of ``examples`` over the whole catalogue."""
    row_of, relevant, exclude = _view_lists(examples, view, per_target=examples.construction == "turn")
    if len(row_of) == 0:
        return {m: float("nan") for m in METRICS} | {"n_rows": 0}
    res = evaluate_rows(lambda rows: np.asarray(scores[row_of[rows]]), relevant, exclude, ks=KS, n_rows=len(row_of))
    return {m: float(res[m]) for m in METRICS} | {"n_rows": int(res["n_rows"])}


def evaluate_both(scores, examples: R.Examples) -> dict:
    """``{"all": {...}, "new": {...}}``."""
    return {v: evaluate_scores(scores, examples, v) for v in VIEWS}


# ---------------------------------------------------------------------------
# Text vectors (cached) and model inputs
# ---------------------------------------------------------------------------


def encode_cached(encoder, texts, cache, progress: bool = True) -> np.ndarray:
    """Vectors of ``texts`` through ``encoder``, each distinct text encoded once and stored in ``cache``."""
    from hncf.encoders.cache import content_hashes

    texts = np.asarray(texts, dtype=object)
    if len(texts) == 0:
        return np.zeros((0, encoder.dim), np.float32)
    hashes = content_hashes(texts)
    return cache.get_or_compute(encoder.name, hashes, hashes,
                                lambda pos: encoder.encode(texts[pos], progress=False), batch_size=256,
                                progress=progress)


def variant_style(preset: QueryPreset, variant: str) -> str:
    """Which rendering of the mentions the variant reads."""
    return preset.mention_style if variant == "bert" else preset.rnn_mention_style


def model_inputs(vectors: np.ndarray, examples: R.Examples, max_mentions: int) -> dict:
    """Cached-path inputs: text vectors and the right-aligned mention ids."""
    from hncf.models.query import pad_mentions

    return {"text_vector": np.asarray(vectors, np.float32), "mentions": pad_mentions(examples.mentions, max_mentions)}


def _select(x: dict, model) -> dict:
    return {k: v for k, v in x.items() if k in model.input}


def predict_scores(model, x: dict, batch_size: int = 256) -> np.ndarray:
    """Logits ``[n, n_movies]`` for cached-path inputs."""
    return np.asarray(model.predict(_select(x, model), batch_size=batch_size, verbose=0), dtype=np.float64)


class QueryBatches:
    """Training batches: main examples (multi-hot targets) with ``tag_batch`` tag rows interleaved in every batch.

    Built on :class:`hncf.generators.EpochBatches`, so batch k is a pure function of k (exact resume).
    The target array is ``[rows, n_movies + 1]``; the last column flags tag rows (softmax task).
    """

    def __new__(cls, x: dict, targets: list, n_movies: int, batch_size: int, seed: int, tag_x: dict | None = None,
                tag_movies: np.ndarray | None = None, tag_batch: int = 0):
        from hncf.generators.base import EpochBatches

        class _Batches(EpochBatches):
            def __init__(self):
                super().__init__(batch_size, seed)
                self.x, self.targets, self.n_movies = x, targets, n_movies
                self.tag_x, self.tag_movies = tag_x, tag_movies
                self.tag_batch = int(tag_batch) if tag_x is not None and len(tag_movies) else 0
                self.n = len(targets)

            @property
            def rows_per_epoch(self):
                return self.n

            def epoch_batch(self, epoch, rows):
                order = np.random.default_rng([self.seed, epoch]).permutation(self.n)[rows]
                xb = {k: v[order] for k, v in self.x.items()}
                y = np.zeros((len(order), self.n_movies + 1), np.float32)
                lens = [len(self.targets[i]) for i in order]
                if sum(lens):
                    y[np.repeat(np.arange(len(order)), lens), np.concatenate([self.targets[i] for i in order])] = 1
                if self.tag_batch:
                    k = rows.start // max(self.batch_size, 1)
                    perm = np.random.default_rng([self.seed, epoch, 1]).permutation(len(self.tag_movies))
                    pick = perm[np.arange(k * self.tag_batch, (k + 1) * self.tag_batch) % len(perm)]
                    ty = np.zeros((len(pick), self.n_movies + 1), np.float32)
                    ty[np.arange(len(pick)), self.tag_movies[pick]] = 1
                    ty[:, -1] = 1
                    xb = {k2: np.concatenate([v, self.tag_x[k2][pick]]) for k2, v in xb.items()}
                    y = np.concatenate([y, ty])
                return xb, y

        return _Batches()


@dataclass
class QueryValidation:
    """Validation nDCG@10 on held-out training dialogues, the mean of the two views: what selects the epoch.

    Both views count because both are reported: the all-targets view alone rewards repeating the
    request's movies (the copy boost does that from the first epoch) and stops before the text
    pathway has learned anything the new-movies view can see.
    """

    x: dict
    examples: R.Examples
    mode = "max"
    monitor = "val_ndcg@10"

    def evaluate(self, model) -> dict:
        scores = predict_scores(model, self.x)
        res = {v: evaluate_scores(scores, self.examples, v) for v in VIEWS}
        return {"val_ndcg@10": float(np.mean([res[v]["ndcg@10"] for v in VIEWS])),
                **{f"val_ndcg@10_{v}": res[v]["ndcg@10"] for v in VIEWS}, "val_recall@10_all": res["all"]["recall@10"]}


def choose_prior_weight(model, validation: QueryValidation, grid) -> tuple[float, dict]:
    """The co-occurrence prior's starting ``alpha``: the grid value with the best validation score of the untrained model.

    Gradient steps move a scalar by about the learning rate each, too slowly for a weight whose
    right size is a few units; validation picks its scale once, before training (never the test set).
    """
    layer = model.get_layer("mention_cooccurrence")
    scores = {}
    for a in grid:
        layer.alpha.assign(float(a))
        scores[float(a)] = validation.evaluate(model)[validation.monitor]
    best = max(scores, key=scores.get)
    layer.alpha.assign(best)
    return best, scores


def tag_examples(joined: pd.DataFrame, tags: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(tag text, catalogue index) pairs for catalogue movies matched to MovieLens; one per distinct (tag, movie)."""
    idx = pd.Series(np.arange(len(joined)), index=joined["ml_movie_id"]).dropna()
    idx = idx[idx.index.notna()]
    idx.index = idx.index.astype(np.int64)
    idx = idx[~idx.index.duplicated()]
    t = tags.assign(tag=tags["tag"].astype(str).str.strip())
    t = t[(t["tag"] != "") & t["movieId"].isin(idx.index)]
    t = t.drop_duplicates(["movieId", "tag"])
    return t["tag"].to_numpy(dtype=object), idx.loc[t["movieId"].to_numpy()].to_numpy(np.int64)


def build_model(variant: str, n_movies: int, text_dim: int, preset: QueryPreset, seed: int, pop: np.ndarray | None,
                fit_examples: R.Examples | None = None, cooccurrence=None, movie_vectors: np.ndarray | None = None):
    """A compiled cached-path model for ``variant``, its starting values taken from the data it will fit.

    ``pop`` (training mentions) starts the output bias at popularity log-odds; ``fit_examples`` start
    the copy boosts (:func:`hncf.models.query.copy_boost_init`); ``cooccurrence`` (a
    :func:`cooccurrence_matrix` of the fitted dialogues) fills the co-occurrence prior's table;
    ``movie_vectors`` (one text vector per catalogue movie) the content-tied output layer.
    """
    from hncf.models.query import QueryRecommender, compile_query, copy_boost_init, top_neighbours

    bias = copy_init = table = None
    if preset.popularity_bias and pop is not None:
        p = (pop + 0.1) / (pop.sum() + 0.1 * pop.size)
        bias = np.log(p / (1 - p))
    if preset.copy_mentions and fit_examples is not None:
        base = np.zeros(n_movies)  # the copy offset cancels the output bias of mentioned movies
        copy_init = copy_boost_init(fit_examples.mentions, fit_examples.targets, base, max_rank=8)
    if preset.cooccurrence:
        if cooccurrence is None:
            raise ValueError("the co-occurrence prior needs the training dialogues' co-occurrence matrix")
        table = top_neighbours(cooccurrence, preset.cooccurrence)
    use_text = bool(preset.movie_text and movie_vectors is not None)
    model = QueryRecommender(n_movies, text_dim=text_dim, variant=variant, hidden=preset.hidden,
                             dropout=preset.dropout, rnn_embedding=preset.rnn_embedding, rnn_hidden=preset.rnn_hidden,
                             max_mentions=preset.max_mentions, copy_mentions=preset.copy_mentions,
                             cooccurrence=preset.cooccurrence, seed=seed, output_bias=bias, copy_init=copy_init,
                             neighbour_table=table, movie_text_dim=movie_vectors.shape[1] if use_text else 0,
                             movie_vectors=movie_vectors if use_text else None, name=f"query_{variant}")
    return compile_query(model, preset.learning_rate, steps_per_execution=8)


# ---------------------------------------------------------------------------
# One seed
# ---------------------------------------------------------------------------


@dataclass
class FitData:
    """What one training stage fits: its examples, their dialogues and text vectors per mention style."""

    examples: R.Examples
    dialogues: list
    vectors: dict


def fit_stages(split: QuerySplit, vectors: dict, refit: bool) -> dict:
    """``{"selection": train, "final": train + validation (with refit) or train}``, keyed by selection stage."""
    train = FitData(split.train, split.train_dialogues, {st: vectors[st, "train"] for st, name in vectors
                                                          if name == "train"})
    if not refit:
        return {"selection": train, "final": train}
    both = FitData(split.train.concat(split.validation), split.train_dialogues + split.validation_dialogues,
                   {st: np.concatenate([vectors[st, "train"], vectors[st, "validation"]])
                    for st, name in vectors if name == "train"})
    return {"selection": train, "final": both}


def run_seed(split: QuerySplit, encoder, cache, preset: QueryPreset, seed: int, variants, movie_vectors,
             tag_data=None, progress: bool = True, checkpoint_dir: Path | None = None, resume: bool = False):
    """Baselines and trained variants on one split; returns ``(results, models, histories, timings)``.

    Every row fits the same dialogues: the training ones plus, with ``preset.refit``, the validation
    ones (the variants select their epoch on validation first, then refit; the count baselines have
    nothing to select). The test dialogues are only scored.
    """
    import keras

    from hncf.pipeline.selection import select_then_refit
    from hncf.training import TrainConfig

    cat, n_movies = split.catalogue, len(split.catalogue)
    results, timings = {}, {}
    test = split.test

    vectors = {}
    styles = sorted({"title"} | {variant_style(preset, v) for v in variants})
    t0 = time.perf_counter()
    for style in styles:
        for name, ex in (("train", split.train), ("validation", split.validation), ("test", test)):
            vectors[style, name] = encode_cached(encoder, ex.text(style), cache, progress)
    timings["encode requests"] = time.perf_counter() - t0
    stages = fit_stages(split, vectors, preset.refit)
    final = stages["final"]

    t0 = time.perf_counter()
    pops = {name: training_popularity(st.dialogues, cat) for name, st in stages.items()}
    pop = pops["final"]
    results["popularity"] = evaluate_both(popularity_scores(pop, len(test)), test)
    results["repetition"] = evaluate_both(repetition_scores(test, pop), test)
    results["cooccurrence"] = evaluate_both(cooccurrence_scores(test, final.dialogues, cat, pop), test)
    timings["count baselines"] = time.perf_counter() - t0
    if movie_vectors is not None:
        results["text_retrieval"] = evaluate_both(text_retrieval_scores(vectors["title", "test"], movie_vectors), test)

    models, histories = {}, {}
    cooc = {name: cooccurrence_matrix(st.dialogues, cat) if preset.cooccurrence else None
            for name, st in stages.items()}
    for variant in variants:
        style = variant_style(preset, variant)
        tag_x = tag_movies = None
        if variant == "tags":
            if tag_data is None:
                raise ValueError("the tags variant needs MovieLens tags (--movielens DIR with movies.csv and tags.csv)")
            tag_vectors, tag_movies = tag_data
            tag_x = {"text_vector": tag_vectors,
                     "mentions": np.zeros((len(tag_movies), preset.max_mentions), np.int32)}

        validation = QueryValidation(model_inputs(vectors[style, "validation"], split.validation, preset.max_mentions),
                                     split.validation)
        prior = {}

        def build(stage: str, variant=variant, style=style, tag_x=tag_x, tag_movies=tag_movies,
                  validation=validation, prior=prior):
            fit = stages[stage]
            keras.utils.set_random_seed(seed)
            model = build_model(variant, n_movies, encoder.dim, preset, seed, pops[stage], fit.examples, cooc[stage],
                                movie_vectors)
            if preset.cooccurrence:
                if "alpha" not in prior:  # chosen on the selection stage, kept for the refit
                    prior["alpha"], prior["scores"] = choose_prior_weight(model, validation, preset.prior_alphas)
                model.get_layer("mention_cooccurrence").alpha.assign(prior["alpha"])
            x = _select(model_inputs(fit.vectors[style], fit.examples, preset.max_mentions), model)
            data = QueryBatches(x, fit.examples.targets, n_movies, preset.batch_size, seed,
                                None if tag_x is None else _select(tag_x, model), tag_movies, preset.tag_batch_size)
            return model, data

        config = TrainConfig(epochs=preset.epochs, batch_size=preset.batch_size, learning_rate=preset.learning_rate,
                             seed=seed, patience=preset.patience, steps_per_execution=8)
        x_test = model_inputs(vectors[style, "test"], test, preset.max_mentions)
        ckpt = None if checkpoint_dir is None else checkpoint_dir / f"seed{seed}-{variant}"
        model, record = select_then_refit(build, config, validation,
                                          refit=preset.refit, checkpoint_dir=ckpt, resume=resume, verbose=0,
                                          run_config={"system": "query", "variant": variant, "seed": seed,
                                                      "preset": asdict(preset)})
        results[variant] = evaluate_both(predict_scores(model, x_test), test)
        results[variant]["best_epoch"] = record["best_epoch"]
        results[variant]["epochs_run"] = record["epochs"]
        results[variant]["refit"] = record["refit"]
        results[variant]["validation_ndcg@10"] = float(np.nanmax(record["history"]["val_ndcg@10"]))
        results[variant]["history"] = record["history"]
        if prior:
            results[variant]["prior_alpha"] = {"chosen": prior["alpha"], "validation": prior["scores"]}
        timings[f"train {variant}"] = record["train_seconds"]
        models[variant], histories[variant] = model, record["history"]
        log(f"seed {seed} {variant}: best epoch {record['best_epoch']}/{record['epochs']}"
            f"{', refit on train + validation' if record['refit'] else ''}, test nDCG@10 "
            f"{results[variant]['all']['ndcg@10']:.4f} (all) {results[variant]['new']['ndcg@10']:.4f} (new), "
            f"{record['train_seconds']:.0f} s", progress)
    return results, models, histories, timings


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


def seed_reports(per_seed: list, seeds=None) -> list[dict]:
    """Each seed's results in the shared report schema (views as protocols), for :mod:`hncf.pipeline.seeds`."""
    seeds = list(range(len(per_seed))) if seeds is None else list(seeds)
    return [{"seed": seed, "protocols": {view: {"models": {
        row: {"metrics": res[view], "best_epoch": res.get("best_epoch")} for row, res in r.items()}} for view in VIEWS}}
        for seed, r in zip(seeds, per_seed)]


def _columns(metrics=METRICS) -> list:
    return [(f"{view} {m}", view, m) for view in VIEWS for m in metrics]


def summarise(per_seed: list, seeds=None) -> dict:
    """``{row: {view: {metric: (mean, sd)}}}`` over seeds (sd with ddof=1; 0 for one seed)."""
    stats = summarise_seeds(seed_reports(per_seed, seeds), _columns(), list(per_seed[0]))["rows"]
    return {row: {view: {m: (st[f"{view} {m}"]["mean"], st[f"{view} {m}"]["sd"]) for m in METRICS} for view in VIEWS}
            for row, st in stats.items()}


def schema_protocols(summary: dict, per_seed: list, seeds) -> dict:
    """The shared report schema: ``protocols[view]["models"][row]`` with mean metrics, their sd and per-seed values."""
    protocols = {}
    for view in VIEWS:
        models = {}
        for row, stats in summary.items():
            models[row] = {"metrics": {m: stats[view][m][0] for m in METRICS},
                           "sd": {m: stats[view][m][1] for m in METRICS},
                           "per_seed": {str(s): {m: r[row][view][m] for m in METRICS} for s, r in zip(seeds, per_seed)},
                           "best_epoch": [r[row].get("best_epoch") for r in per_seed]}
        protocols[view] = {"protocol": {"all": "every target counts, nothing excluded (CRSLab/UniCRS)",
                                        "new": "targets already mentioned removed and never ranked"}[view],
                           "models": models}
    return protocols


def best_variant(per_seed: list, variants) -> str | None:
    """The trained variant with the best mean validation score over seeds (never the test set)."""
    scores = {v: float(np.mean([r[v]["validation_ndcg@10"] for r in per_seed])) for v in variants
              if all(v in r for r in per_seed)}
    return max(scores, key=scores.get) if scores else None


def paired_differences(per_seed: list, row: str, against=BASELINES, metrics=("ndcg@10", "recall@10")) -> dict:
    """``{baseline: {view: {metric: (mean, sd)}}}`` of ``row`` minus each baseline within each seed (same split)."""
    pairs = [(row, base, base) for base in against]
    diffs = summarise_seeds(seed_reports(per_seed), _columns(metrics), [row, *against], pairs)["paired_differences"]
    return {base: {view: {m: (d[f"{view} {m}"]["mean"], d[f"{view} {m}"]["sd"]) for m in metrics} for view in VIEWS}
            for base, d in diffs.items()}


def differences_markdown(row: str, diffs: dict) -> list:
    """Lines of a table: ``row`` minus each baseline, both views, mean ± sd of the per-seed differences."""
    if not diffs:
        return []
    cols = [f"{view} {m}" for view in VIEWS for m in ("ndcg@10", "recall@10")]
    rows = [{"minus": base, **{f"{view} {m}": f"{d[view][m][0]:+.4f} ± {d[view][m][1]:.4f}" for view in VIEWS
                               for m in ("ndcg@10", "recall@10")}} for base, d in diffs.items()]
    return [f"### `{row}` (best on validation) minus each baseline, within each seed", "",
            markdown_table(rows, ["minus", *cols]), ""]


def results_markdown(summary: dict, n_seeds: int, description: str, differences: tuple | None = None) -> str:
    """The variants-and-baselines table, one block per view, mean ± sd over seeds; then ``(row, diffs)`` if given."""
    lines = [f"Split: {description}; {n_seeds} seed(s); full catalogue ranking; mean ± sd.", ""]
    for view in VIEWS:
        title = {"all": "All targets (CRSLab/UniCRS view; nothing excluded)",
                 "new": "New movies only (already-mentioned targets removed and never ranked)"}[view]
        rows = [{"row": name, **{m: f"{s[view][m][0]:.4f} ± {s[view][m][1]:.4f}" for m in METRICS}}
                for name, s in summary.items()]
        lines += [f"### {title}", "", markdown_table(rows, ["row", *METRICS]), ""]
    if differences is not None:
        lines += differences_markdown(*differences)
    lines += ["Anchors (per turn, all targets, Recall@1/@10/@50, ~10k training dialogues): "
              + "; ".join(f"{k} {a:.3f}/{b:.3f}/{c:.3f}" for k, (a, b, c) in ANCHORS.items()) + ".",
              "The paper's table was lost; it cites Penha and Hauff's 0.819 nDCG@10, which ranks 1 true response "
              "among 51 candidates (not the whole catalogue of 6,924 movies): not comparable."]
    return "\n".join(lines) + "\n"


def report_markdown(report: dict) -> str:
    """:func:`results_markdown` of a written ``metrics.json`` (what ``python -m hncf report`` renders)."""
    per_seed, seeds = report["per_seed"], report["seeds"]
    best = report.get("best_variant") or best_variant(per_seed, report.get("variants", ()))
    description = report["splits"][0]["description"] + (f" (+{len(seeds) - 1} more seeds)" if len(seeds) > 1 else "")
    title = {"dialogue": "one example per dialogue (the paper's)",
             "turn": "one example per recommending turn (CRSLab's)"}.get(report.get("construction"), "")
    md = results_markdown(summarise(per_seed, seeds), len(seeds), description,
                          (best, paired_differences(per_seed, best)) if best else None)
    md = md.replace("\n### ", "\n# ")  # top-level here: the README nests the block under its own section
    return f"Examples: {title}.\n\n{md}" if title else md


# ---------------------------------------------------------------------------
# The whole run
# ---------------------------------------------------------------------------


def _tag_data(movielens, catalogue, encoder, cache, progress):
    if movielens is None:
        return None, None, None
    ml = Path(movielens)
    movies_path, tags_path = ml / "movies.csv", ml / "tags.csv"
    for p in (movies_path, tags_path):
        if not p.is_file():
            raise FileNotFoundError(f"MovieLens file {p} does not exist (give --movielens a folder with movies.csv "
                                    "and tags.csv)")
    movies, tags = pd.read_csv(movies_path), pd.read_csv(tags_path)
    joined = R.join_movielens(catalogue, movies)
    tag_text, tag_movie = tag_examples(joined, tags)
    tag_vectors = encode_cached(encoder, tag_text, cache, progress) if len(tag_text) else None
    return joined, (movies, tags), (None if tag_vectors is None else (tag_vectors, tag_movie))


def run_query(dialogues=None, data_dir=None, test_file=None, movielens=None, variants=ALL_VARIANTS,
              construction: str = "dialogue", text_encoder: str | None = None, text_pooling: str = "mean",
              preset: str = "default", epochs: int | None = None, seeds=(0,), out_dir=None, cache_dir=None,
              progress: bool = True, resume: bool = False, learning_rate: float | None = None,
              baselines_only: bool = False, checkpoints: bool = True, mention_style: str | None = None) -> dict:
    """Run the experiment and write ``metrics.json``, ``results.md``, curves and the best variant's bundle."""
    from hncf.encoders.cache import FeatureCache
    from hncf.encoders.text import load_text_encoder

    t_start = time.perf_counter()
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    p = PRESETS[preset]
    if epochs is not None:
        p = replace(p, epochs=int(epochs))
    if learning_rate is not None:
        p = replace(p, learning_rate=float(learning_rate))
    if mention_style is not None:
        if mention_style not in ("title", "token"):
            raise ValueError(f"unknown mention style {mention_style!r}; expected 'title' or 'token'")
        p = replace(p, mention_style=mention_style,
                    rnn_mention_style=mention_style if p.rnn_mention_style != "placeholder" else "placeholder")
    variants = () if baselines_only else tuple(variants)
    unknown = [v for v in variants if v not in ALL_VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; known: {', '.join(ALL_VARIANTS)}")
    out = Path(out_dir or f"runs/query-redial-{preset}")
    out.mkdir(parents=True, exist_ok=True)
    files, catalogue_path = R.find_redial_files(dialogues, data_dir)
    if text_encoder is None:
        from hncf.experiments.quick import minilm_path

        text_encoder = minilm_path()
    from hncf.data.download import default_cache_dir

    cache = FeatureCache(cache_dir or default_cache_dir() / "features")
    encoder = load_text_encoder(text_encoder, pooling=text_pooling, sequence_length=p.sequence_length)
    log(f"text encoder {encoder.name} (dim {encoder.dim})", progress)
    catalogue = R.read_catalogue(catalogue_path)
    joined, ml_frames, tag_data = _tag_data(movielens, catalogue, encoder, cache, progress)
    if "tags" in variants and tag_data is None:
        raise ValueError("--variant tags needs --movielens DIR (movies.csv and tags.csv) to join tags to movies")
    texts = R.movie_texts(joined if joined is not None else catalogue, *(ml_frames or (None, None)))
    t0 = time.perf_counter()
    movie_vectors = encode_cached(encoder, texts, cache, progress)
    encode_movies_s = time.perf_counter() - t0

    per_seed, histories, timings, split_info = [], {}, [], []
    best_models = None
    for seed in seeds:
        split = prepare_split(files, catalogue_path, seed, construction, test_file)
        if seed == seeds[0]:
            for rep in split.reports:
                log(rep.summary(), progress)
        log(f"seed {seed}: {split.description}; examples {len(split.train)}/{len(split.validation)}/"
            f"{len(split.test)}", progress)
        res, models, hist, tim = run_seed(split, encoder, cache, p, seed, variants, movie_vectors, tag_data,
                                          progress, out / "checkpoints" if checkpoints else None, resume)
        per_seed.append(res)
        timings.append(tim)
        histories.update({f"{v} (seed {seed})": h for v, h in hist.items()})
        split_info.append({"seed": seed, "description": split.description, "examples": {
            "train": split.train.stats, "validation": split.validation.stats, "test": split.test.stats}})
        if seed == seeds[0]:
            best_models = (models, split)

    summary = summarise(per_seed, seeds)
    best = best_variant(per_seed, variants)
    diffs = paired_differences(per_seed, best) if best else {}
    markdown = results_markdown(summary, len(seeds), split_info[0]["description"]
                                + (f" (+{len(seeds) - 1} more seeds)" if len(seeds) > 1 else ""),
                                (best, diffs) if best else None)
    report = {
        "system": "query", "dataset": "redial", "preset": preset, "preset_values": asdict(p),
        "construction": construction, "variants": list(variants), "seeds": list(seeds),
        "text_encoder": encoder.name, "files": [str(f) for f in files], "test_file": test_file,
        "load_reports": [r.to_dict() for r in split.reports], "splits": split_info,
        "movielens_join": None if joined is None else {
            "matched": int(joined["ml_movie_id"].notna().sum()), "catalogue": len(joined),
            "rate": float(joined["ml_movie_id"].notna().mean()),
            "by_rule": joined["match"].value_counts().to_dict(),
            "tag_examples": 0 if tag_data is None else len(tag_data[1])},
        "per_seed": per_seed, "summary": summary, "protocols": schema_protocols(summary, per_seed, seeds),
        "best_variant": best, "paired_differences": diffs, "machine": machine_info(),
        "timings": timings, "encode_movies_seconds": encode_movies_s,
        "anchors": {k: list(v) for k, v in ANCHORS.items()},
    }
    if best_models and best_models[0]:
        models, split = best_models
        # The bundle's variant is chosen by the selection stage's best validation nDCG@10 (the refit
        # model has trained on the validation dialogues, so they cannot judge it); never the test set.
        val_scores = {v: per_seed[0][v]["validation_ndcg@10"] for v in models}
        chosen = max(val_scores, key=val_scores.get)
        save_bundle(out / "model", models[chosen], catalogue, text_encoder, text_pooling, p, variant_style(p, chosen))
        report["bundle"] = {"path": str(out / "model"), "variant": chosen, "validation_ndcg@10": val_scores}
        log(f"saved the {chosen} model (best validation nDCG@10) to {out / 'model'}", progress)
    report["wall_seconds"] = time.perf_counter() - t_start
    write_json(out / "metrics.json", report)
    (out / "results.md").write_text(markdown)
    if histories:
        from hncf.evaluation import plot_training_curves

        plot_training_curves(histories, out / "training_curves.png", metric_key="val_ndcg@10",
                             title="query recommender (ReDial), selection stage",
                             metric_labels={"val_ndcg@10": "val. nDCG@10 (mean of views)"})
    log(f"wrote {out / 'metrics.json'}, {out / 'results.md'} in {report['wall_seconds']:.0f} s", progress)
    if progress:
        print(markdown, flush=True)
    return report


def save_bundle(folder: Path, model, catalogue: pd.DataFrame, text_encoder: str, text_pooling: str,
                preset: QueryPreset, mention_style: str) -> Path:
    """The model folder ``recommend-text`` loads (see :mod:`hncf.serving.query`)."""
    from hncf.serving.query import save_query_bundle

    meta = {"text_encoder": str(text_encoder), "text_pooling": text_pooling, "sequence_length": preset.sequence_length,
            "max_mentions": preset.max_mentions, "mention_style": mention_style,
            "variant": getattr(model, "variant", None)}
    return save_query_bundle(folder, model, catalogue, meta)
