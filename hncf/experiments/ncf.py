"""Reproduce NeuMF on MovieLens (the fourth paper) and the NCF protocol for the NCF family.

Two protocols, kept apart in every table:

* ``chrono``: the paper's setup (Microsoft Recommenders' NCF notebook):
  per-user chronological 75/25 split, test users/items filtered to train, every
  unseen item ranked, top-10 MAP / NDCG / Precision / Recall.
* ``loo``: He et al. (2017): each user's latest interaction is the test item,
  ranked against 99 negatives sampled once with a seed (saved beside the
  results); HR@10 and NDCG@10 for GMF, MLP, NeuMF, biased MF and popularity.

"paper" rows use the paper's hyperparameters literally (fixed epochs, no
validation). "hncf" rows are our defaults: a larger batch with a scaled
learning rate, and the epoch chosen on a validation split carved from the
training data (each user's latest training interaction against 99 sampled
negatives), never on the test set, then a refit on all training data for that
many epochs.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hncf.data import load_movielens
from hncf.data.schema import ITEM, USER
from hncf.evaluation import (
    comparison_table,
    evaluate_full_ranking,
    evaluate_sampled,
    markdown_table,
)
from hncf.evaluation.sweeps import plot_factor_sweep
from hncf.pipeline import (
    PreparedSplit,
    log,
    prepare_chrono,
    prepare_loo,
    write_outputs,
)
from hncf.pipeline.baselines import ModelSpec, fit_row, row_slug
from hncf.training import TrainConfig

# The paper's Table I (NeuMF, ML-100K, chrono 75/25, top-10).
PAPER_CHRONO = {"map": 0.045272, "ndcg@10": 0.193614, "precision@10": 0.175822, "recall@10": 0.099722}
# He et al. (2017) report ML-1M, not ML-100K; shown for orientation only (different dataset).
NCF_PAPER_ML1M_LOO = {"neumf": {"hr@10": 0.730, "ndcg@10": 0.447}, "gmf": {"hr@10": 0.70, "ndcg@10": 0.42},
                      "mlp": {"hr@10": 0.69, "ndcg@10": 0.42}}
# Rendle et al. (2020), Table 1: a tuned dot-product MF on ML-1M under the same protocol.
RENDLE_ML1M_LOO = {"hr@10": 0.729, "ndcg@10": 0.452}
CHRONO_METRICS = ("map", "map@10", "ndcg@10", "precision@10", "recall@10")
LOO_METRICS = ("hr@10", "ndcg@10", "mrr")


def _paper_neumf(epochs: int) -> ModelSpec:
    # Recommenders' NCF(model_type="NeuMF", n_factors=16, layer_sizes=[16, 8, 4], n_epochs=100,
    # batch_size=256, learning_rate=1e-3): the paper's settings, no validation.
    return ModelSpec("NeuMF (paper settings)", "neumf", {"n_factors": 16, "layers": (16, 8, 4)},
                     TrainConfig(epochs=epochs, batch_size=256, learning_rate=1e-3), validate=False)


def _fast(epochs: int, patience: int | None) -> TrainConfig:
    # 8x the batch with 4x the learning rate reached the same validation quality in about a
    # third of the epochs (tuned on a split of the training data only; see README).
    return TrainConfig(epochs=epochs, batch_size=2048, learning_rate=4e-3, patience=patience)


# The chrono row's epoch budget: the median best validation epoch over 5 seeds was 14 (best epochs
# 14, 27, 14, 10, 11 by validation HR@10, training data only). Chosen once over seeds because one
# run's validation HR@10 on 943 users (standard error ~0.016) is too noisy to pick its own epoch.
CHRONO_EPOCHS = 15


# He et al.'s ML settings: 8 predictive factors, MLP 64-32-16-8 (the last layer has 8 factors).
HE_SIZES = {"gmf": {"n_factors": 8}, "mlp": {"layers": (64, 32, 16, 8)},
            "neumf": {"n_factors": 8, "layers": (64, 32, 16, 8)}, "mf": {"n_factors": 32}}


def he_tower(factors: int) -> tuple[int, ...]:
    """He et al.'s MLP tower for ``factors`` predictive factors, as in their code (``--layers [64,32,16,8]``
    for 8 factors): the concatenated embedding is 8x the factors, then three halving hidden layers."""
    return (8 * factors, 4 * factors, 2 * factors, factors)


SWEEP_FACTORS = (8, 16, 32, 64)  # He et al.'s Figure 4 and Table 2


@dataclass(frozen=True)
class NCFPreset:
    """Everything a preset fixes: the chrono rows, and how the leave-one-out family trains.

    ``loo_rows`` lists the leave-one-out rows explicitly (each with its own sizes, L2 and training);
    when None the family is built from ``loo_train`` and ``loo_sizes``. ``sweep_factors`` are the
    predictive factors of ``--sweep factors``.
    """

    chrono: tuple[ModelSpec, ...]
    loo_train: TrainConfig
    loo_validate: bool = True
    loo_sizes: dict = field(default_factory=lambda: HE_SIZES)
    loo_rows: tuple[ModelSpec, ...] | None = None
    sweep_factors: tuple[int, ...] = SWEEP_FACTORS


def _ml1m_rows() -> tuple[ModelSpec, ...]:
    """The ``ml-1m`` preset: He et al.'s family at 64 predictive factors with pretraining, and Rendle's MF.

    Sizes, L2, negatives and learning rates were chosen on the validation carve-out of ml-1m-part only
    (each user's latest training interaction vs 99 negatives; never the test items); see the README.
    """
    he = TrainConfig(epochs=40, batch_size=2048, learning_rate=4e-3, patience=3)
    f = ML1M_FACTORS
    return (
        ModelSpec("Popularity", "popularity"),
        ModelSpec("GMF", "gmf", {"n_factors": f}, he),
        ModelSpec("MLP", "mlp", {"layers": he_tower(f)}, he),
        ModelSpec("NeuMF", "neumf", {"n_factors": f, "layers": he_tower(f)}, he),
        # Fine-tuned from GMF and MLP at a tenth of the learning rate, as in the default family.
        ModelSpec("NeuMF (GMF+MLP pretrained)", "neumf_pretrained", {"n_factors": f, "layers": he_tower(f)},
                  dataclasses.replace(he, learning_rate=he.learning_rate / 10)),
        ModelSpec(RENDLE_LABEL, "mf", dict(RENDLE_MF_SIZES), RENDLE_MF_TRAIN),
    )


# He et al.'s best ML-1M setting (Table 2: 64 predictive factors, NeuMF pretrained).
ML1M_FACTORS = 64
# Rendle et al. (2020): a dot product with larger embeddings, L2 and more negatives per positive than NCF's 4.
RENDLE_LABEL = "MF (Rendle et al. 2020 recipe)"
RENDLE_MF_SIZES = {"n_factors": 128, "l2_example": 1e-4}
RENDLE_MF_TRAIN = TrainConfig(epochs=40, batch_size=4096, learning_rate=4e-3, n_neg=8, patience=3)


PRESETS = {
    "paper": NCFPreset(chrono=(_paper_neumf(100),), loo_train=TrainConfig(epochs=20, batch_size=256, learning_rate=1e-3),
                       loo_validate=False),
    "default": NCFPreset(
        chrono=(_paper_neumf(100), ModelSpec("NeuMF (hncf)", "neumf", {"n_factors": 4, "layers": (16, 8, 4)},
                                             _fast(CHRONO_EPOCHS, None), validate=False)),
        loo_train=TrainConfig(epochs=40, batch_size=2048, learning_rate=4e-3, patience=4)),
    "tiny": NCFPreset(
        chrono=(ModelSpec("NeuMF (paper settings)", "neumf", {"n_factors": 4, "layers": (8, 4)},
                          TrainConfig(epochs=2, batch_size=256), validate=False),
                ModelSpec("NeuMF (hncf)", "neumf", {"n_factors": 4, "layers": (8, 4)},
                          TrainConfig(epochs=3, batch_size=512, learning_rate=4e-3, patience=2))),
        loo_train=TrainConfig(epochs=2, batch_size=512, learning_rate=4e-3, patience=2),
        loo_sizes={"gmf": {"n_factors": 4}, "mlp": {"layers": (16, 8)}, "neumf": {"n_factors": 4, "layers": (16, 8)},
                   "mf": {"n_factors": 8}},
        sweep_factors=(2, 4)),
    # ML-1M after He et al. (2017) and Rendle et al. (2020); chrono keeps the default rows.
    "ml-1m": NCFPreset(
        chrono=(_paper_neumf(100), ModelSpec("NeuMF (hncf)", "neumf", {"n_factors": 4, "layers": (16, 8, 4)},
                                             _fast(CHRONO_EPOCHS, None), validate=False)),
        loo_train=TrainConfig(epochs=40, batch_size=2048, learning_rate=4e-3, patience=3),
        loo_rows=_ml1m_rows()),
}


def _with_epochs(spec: ModelSpec, epochs: int | None) -> ModelSpec:
    return dataclasses.replace(spec, train=dataclasses.replace(spec.train, epochs=epochs)) if epochs else spec


def _loo_specs(preset: NCFPreset, epochs: int | None) -> list[ModelSpec]:
    """The leave-one-out rows of ``preset`` (GMF and MLP before the NeuMF they pretrain)."""
    if preset.loo_rows is not None:
        return [_with_epochs(s, epochs) for s in preset.loo_rows]
    sizes = preset.loo_sizes
    cfg = preset.loo_train if not epochs else dataclasses.replace(preset.loo_train, epochs=epochs)
    specs = [ModelSpec("Popularity", "popularity")]
    for kind, label in (("gmf", "GMF"), ("mlp", "MLP"), ("neumf", "NeuMF"), ("mf", "MF (dot product + biases)")):
        specs.append(ModelSpec(label, kind, dict(sizes[kind]), cfg, preset.loo_validate))
    # He et al. fine-tune the pretrained NeuMF with plain SGD (Adam's moments are not carried over); we keep
    # Adam, with fresh moments, at a tenth of the learning rate so fine-tuning starts gently.
    specs.append(ModelSpec("NeuMF (GMF+MLP pretrained)", "neumf_pretrained", dict(sizes["neumf"]),
                           dataclasses.replace(cfg, learning_rate=cfg.learning_rate / 10), preset.loo_validate))
    return specs


SWEEP_KINDS = (("gmf", "GMF"), ("mlp", "MLP"), ("neumf_pretrained", "NeuMF"))


def sweep_label(name: str, factors: int) -> str:
    """The report row of ``name`` (GMF, MLP, NeuMF) at ``factors`` predictive factors in a factor sweep."""
    return f"{name} (f={factors})"


def _sweep_specs(preset: NCFPreset, epochs: int | None, factors: tuple[int, ...] | None = None) -> list[ModelSpec]:
    """He et al.'s Figure 4: GMF, MLP and pretrained NeuMF at each number of predictive factors.

    Each kind trains as the preset's row of that kind (L2 and training settings kept), only its
    sizes change: GMF ``factors``, MLP :func:`he_tower`, NeuMF both; NeuMF is pretrained from the
    GMF and MLP of the same factors, as the paper's NeuMF is. Popularity is the flat reference line.
    """
    base = {s.kind: s for s in _loo_specs(preset, epochs)}
    missing = [k for k, _ in SWEEP_KINDS if k not in base]
    if missing:
        raise ValueError(f"the factor sweep needs {', '.join(missing)} rows in the preset")
    specs = [ModelSpec("Popularity", "popularity")]
    for f in factors or preset.sweep_factors:
        for kind, name in SWEEP_KINDS:
            spec = base[kind]
            sizes = {k: v for k, v in spec.sizes.items() if k not in ("n_factors", "layers")}
            if kind in ("gmf", "neumf_pretrained"):
                sizes["n_factors"] = f
            if kind in ("mlp", "neumf_pretrained"):
                sizes["layers"] = he_tower(f)
            specs.append(dataclasses.replace(spec, label=sweep_label(name, f), sizes=sizes))
    return specs


def factor_sweep(models: dict, factors: tuple[int, ...], metrics=("hr@10", "ndcg@10")) -> dict:
    """The Figure-4 curves of a sweep run: ``{"factors": [...], "curves": {name: {metric: [...]}}}``."""
    curves = {name: {m: [models[sweep_label(name, f)]["metrics"][m] for f in factors] for m in metrics}
              for _, name in SWEEP_KINDS}
    pop = models.get("Popularity")
    if pop:
        curves["Popularity"] = {m: [pop["metrics"][m]] * len(factors) for m in metrics}
    return {"factors": list(factors), "curves": curves}


def row_specs(protocol: str, preset: str = "default", epochs: int | None = None, sweep: bool = False
              ) -> list[ModelSpec]:
    """The rows ``run_ncf`` trains under ``protocol`` ("chrono" or "loo") with ``preset``, in training order.

    ``epochs`` overrides every trained row's epoch budget; ``sweep`` trains the leave-one-out factor
    sweep instead of the family. Popularity comes first; the pretrained NeuMF comes after the GMF
    and MLP rows whose weights it starts from.
    """
    p = PRESETS[preset]
    if protocol == "chrono":
        return [ModelSpec("Popularity", "popularity")] + [
            dataclasses.replace(s, train=dataclasses.replace(s.train, epochs=epochs)) if epochs else s
            for s in p.chrono]
    return _sweep_specs(p, epochs) if sweep else _loo_specs(p, epochs)


@dataclass
class NCFRun:
    """One ``reproduce ncf`` run: what the CLI flags (or a notebook's parameters cell) set."""

    dataset: str = "ml-100k"
    data_dir: str | None = None
    preset: str = "default"
    epochs: int | None = None
    out_dir: str = "runs/ncf"
    seed: int = 0
    protocols: tuple[str, ...] = ("chrono", "loo")
    resume: bool = False
    progress: bool = True
    sweep: str | None = None  # "factors": the leave-one-out rows become He et al.'s factor sweep

    def check(self) -> None:
        """Refuse bad settings before any work."""
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; known: {', '.join(PRESETS)}")
        if self.sweep not in SWEEPS:
            raise ValueError(f"unknown sweep {self.sweep!r}; known: {', '.join(s for s in SWEEPS if s)}")
        if self.sweep and "loo" not in self.protocols:
            raise ValueError(f"--sweep {self.sweep} runs under the leave-one-out protocol: add loo to --protocols")
        unknown = set(self.protocols) - {"chrono", "loo"}
        if unknown or not self.protocols:
            raise ValueError(f"unknown protocol(s) {sorted(unknown)}; known: chrono, loo")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")

    def fingerprint(self) -> dict:
        """What a checkpoint must have been written under for ``resume`` to continue it."""
        fp = {"system": "ncf", "dataset": self.dataset, "preset": self.preset, "epochs": self.epochs,
              "seed": self.seed}
        if self.sweep:  # only when set, so checkpoints written before sweeps existed still resume
            fp["sweep"] = self.sweep
        return fp


SWEEPS = (None, "factors")


def run_ncf(run: NCFRun | None = None, interactions: pd.DataFrame | None = None, **settings) -> dict:
    """Run the NCF reproduction and write ``metrics.json``, ``results.md`` and ``training_curves.png``.

    Give an :class:`NCFRun`, or its fields as keywords (``run_ncf(dataset="ml-1m", seed=1)``).
    ``epochs`` overrides every trained row's epoch budget (validated rows still stop early).
    ``interactions`` bypasses the loader (tests and notebooks on synthetic data).
    Returns the report that is written to ``metrics.json``.
    """
    run = dataclasses.replace(run or NCFRun(), **settings)
    run.check()
    out = Path(run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # A terminal gets Keras' bars; logs and notebooks get about ten short lines per stage.
    verbose = 1 if run.progress and sys.stdout.isatty() else 0
    t_start = time.perf_counter()
    item_info = None
    if interactions is None:
        log(f"loading {run.dataset}", run.progress)
        data = load_movielens(run.dataset, data_dir=run.data_dir, progress=run.progress)
        interactions, item_info = data.interactions, data.items[[ITEM, "title", "genres"]]
    sections = {}
    curves = {}
    for protocol in run.protocols:
        if protocol == "chrono":
            split = prepare_chrono(interactions, run.seed)
        else:
            split = prepare_loo(interactions, run.seed, out / f"test_negatives_{run.dataset}_seed{run.seed}.npz")
        specs = row_specs(protocol, run.preset, run.epochs, sweep=bool(run.sweep))
        rows, trained = {}, {}
        for k, spec in enumerate(specs, 1):
            log(f"{PROTOCOL_NAMES[protocol]}: training {spec.label} (row {k} of {len(specs)}, "
                f"{time.perf_counter() - t_start:.0f} s elapsed)", run.progress)
            score_fn, record = fit_row(spec, split, run.seed, out / "checkpoints" / protocol, run.resume, trained,
                                       verbose, {**run.fingerprint(), "protocol": protocol, "row": spec.label},
                                       bundle_dir=out / "bundles" / protocol / row_slug(spec.label), item_info=item_info,
                                       progress=run.progress)
            t0 = time.perf_counter()
            metrics = evaluate_protocol(protocol, score_fn, split)
            record["eval_seconds"] = time.perf_counter() - t0
            rows[spec.label] = {"metrics": metrics, **record}
            if record.get("resumed"):
                log(f"  resumed {spec.label} from its checkpoint ({record['train_seconds']:.0f} s of training "
                    "before the interruption included)", run.progress)
            curves[f"{protocol}/{spec.label}"] = record.get("history", {})
            shown = CHRONO_METRICS if protocol == "chrono" else LOO_METRICS
            log(f"  {spec.label}: " + ", ".join(f"{m} {metrics[m]:.4f}" for m in shown), run.progress)
        sections[protocol] = protocol_section(protocol, split, rows, run.dataset)
        if protocol == "loo" and run.sweep:
            sweep = factor_sweep(rows, PRESETS[run.preset].sweep_factors)
            plot = plot_factor_sweep(sweep, out / "factor_sweep.png",
                                     f"NCF family vs predictive factors on {run.dataset} (leave-one-out, seed {run.seed})")
            sections[protocol]["sweep"] = {**sweep, "plot": plot.name}
    report = ncf_report(run, sections)
    return write_outputs(out, report, results_markdown(report), curves,
                         f"NCF family on {run.dataset} (seed {run.seed})", t_start, run.progress,
                         metric_key="val_hr@10")


PROTOCOL_NAMES = {"chrono": "chrono 75/25", "loo": "leave-one-out"}
PROTOCOL_TEXT = {
    "chrono": {
        "protocol": "full ranking of all items unseen in training, top-10 (Microsoft Recommenders)",
        "split": "per-user chronological 75/25 (python_chrono_split), test filtered to train users/items",
        "validation": "each user's latest training interaction vs 99 sampled negatives (hncf rows only); "
                      "the selected epoch count is then refit on all training data"},
    "loo": {
        "protocol": "leave-one-out, latest interaction vs 99 sampled negatives (He et al. 2017); "
                    "ties count against the positive",
        "split": "latest interaction per user (ties: last in file order)",
        "validation": "each user's latest remaining training interaction vs 99 sampled negatives; "
                      "the selected epoch count is then refit on all training data"},
}


def evaluate_protocol(protocol: str, score_fn, split: PreparedSplit) -> dict:
    """A trained row's metrics under ``protocol`` on its split."""
    if protocol == "chrono":
        return evaluate_full_ranking(score_fn, split.full_train[USER].to_numpy(), split.full_train[ITEM].to_numpy(),
                                     split.test, len(split.items), k=10)
    return evaluate_sampled(score_fn, split.test[USER].to_numpy(), split.test[ITEM].to_numpy(), split.test_negatives,
                            ks=(1, 5, 10))


def protocol_section(protocol: str, split: PreparedSplit, rows: dict, dataset: str) -> dict:
    """One protocol's entry of the report: what is ranked, the split sizes, the published rows for ``dataset``
    and ``rows`` (``{label: {"metrics": ..., **fit record}}``)."""
    return {**PROTOCOL_TEXT[protocol], **split.sizes, "paper": paper_rows(protocol, dataset), "models": rows}


def ncf_report(run: NCFRun, sections: dict) -> dict:
    """The report of ``run`` (the shared schema of :mod:`hncf.pipeline.report`) with ``sections`` per protocol."""
    return {"system": "ncf", "dataset": run.dataset, "preset": run.preset, "seed": run.seed,
            "run": dataclasses.asdict(run), "protocols": dict(sections)}


def paper_rows(protocol: str, dataset: str) -> dict:
    """The published numbers that belong beside ``protocol`` on ``dataset`` ({} when none do).

    The fourth paper's Table I is NeuMF on ML-100K under the chrono protocol; He et al. (2017)
    report the leave-one-out family on ML-1M. Neither is shown beside another dataset.
    """
    if protocol == "chrono" and dataset == "ml-100k":
        return {"NeuMF": PAPER_CHRONO}
    if protocol == "loo" and dataset == "ml-1m":
        return {"NeuMF": NCF_PAPER_ML1M_LOO["neumf"], "GMF": NCF_PAPER_ML1M_LOO["gmf"],
                "MLP": NCF_PAPER_ML1M_LOO["mlp"], "MF (Rendle et al. 2020)": RENDLE_ML1M_LOO}
    return {}


def results_markdown(report: dict) -> str:
    """The markdown tables of a report: ours beside the published numbers for this dataset, per protocol."""
    parts = [f"# NCF reproduction on {report['dataset']} (preset {report['preset']}, seed {report['seed']})\n"]
    chrono = report["protocols"].get("chrono")
    if chrono:
        parts.append(f"## Chronological 75/25 split, full ranking, top-10 ({chrono['n_test']} test rows)\n")
        rows = [{"model": name, **{m: r["metrics"][m] for m in CHRONO_METRICS}, "epochs": r.get("epochs"),
                 "best epoch": r.get("best_epoch"), "train s": f"{r['train_seconds']:.1f}"}
                for name, r in chrono["models"].items()]
        parts.append(markdown_table(rows, ["model", *CHRONO_METRICS, "epochs", "best epoch", "train s"]))
        best = chrono["models"].get("NeuMF (hncf)") or chrono["models"].get("NeuMF (paper settings)")
        if best and chrono.get("paper"):
            parts.append("\nNeuMF against the paper's Table I (ML-100K; its MAP is Recommenders' `map`):\n")
            paper = chrono["paper"]["NeuMF"]
            parts.append(comparison_table({m: best["metrics"][m] for m in paper}, paper, list(paper)))
        elif best:
            parts.append(f"\nThe paper's Table I is on ML-100K; no published numbers for {report['dataset']}.")
    loo = report["protocols"].get("loo")
    if loo:
        parts.append(f"\n## Leave-one-out, 1 positive + 99 sampled negatives ({loo['n_test']} test users)\n")
        rows = [{"model": name, **{m: r["metrics"][m] for m in ("hr@1", "hr@5", "hr@10", "ndcg@10", "mrr")},
                 "epochs": r.get("epochs"), "best epoch": r.get("best_epoch"), "train s": f"{r['train_seconds']:.1f}"}
                for name, r in loo["models"].items()]
        parts.append(markdown_table(rows, ["model", "hr@1", "hr@5", "hr@10", "ndcg@10", "mrr", "epochs",
                                           "best epoch", "train s"]))
        if loo.get("paper") and not loo.get("sweep"):
            parts.append("\nAgainst He et al. (2017), ML-1M (NeuMF: with pretraining), and Rendle et al. (2020)'s "
                         "dot-product MF:\n")
            paper_rows_md = [{"model": name, "paper hr@10": v["hr@10"], "paper ndcg@10": v["ndcg@10"],
                              "hr@10": ours.get("hr@10"), "ndcg@10": ours.get("ndcg@10")}
                             for name, v in loo["paper"].items() for ours in [_our_metrics(loo["models"], name)]]
            parts.append(markdown_table(paper_rows_md, ["model", "paper hr@10", "hr@10", "paper ndcg@10", "ndcg@10"]))
        elif not loo.get("sweep"):
            parts.append(f"\nHe et al. (2017) report this protocol on ML-1M (NeuMF HR@10 0.730, NDCG@10 0.447), "
                         f"not on {report['dataset']}: no published row belongs beside these.")
        if loo.get("sweep"):
            parts.append(sweep_markdown(loo["sweep"]))
    return "\n".join(parts) + "\n"


def sweep_markdown(sweep: dict) -> str:
    """The factor sweep as two small tables (HR@10, NDCG@10): one row per model, one column per factor."""
    out = ["\n## Predictive factors sweep (He et al. 2017, Figure 4)\n"]
    cols = [f"f={f}" for f in sweep["factors"]]
    for metric in ("hr@10", "ndcg@10"):
        out.append(f"\n{metric.upper()}:\n")
        rows = [{"model": name, **dict(zip(cols, c[metric]))} for name, c in sweep["curves"].items()]
        out.append(markdown_table(rows, ["model", *cols]))
    if sweep.get("plot"):
        out.append(f"\n![factor sweep]({sweep['plot']})")
    return "\n".join(out)


# Our row(s) for each published row, first present wins (the MF row is labelled by its preset's recipe).
_LOO_LABEL = {"NeuMF": ("NeuMF (GMF+MLP pretrained)",), "GMF": ("GMF",), "MLP": ("MLP",),
              "MF (Rendle et al. 2020)": ("MF (Rendle et al. 2020 recipe)", "MF (dot product + biases)")}


def _our_metrics(models: dict, published: str) -> dict:
    for label in _LOO_LABEL.get(published, ()):
        if label in models:
            return models[label]["metrics"]
    return {}
