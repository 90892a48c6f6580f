"""The id-only rows every ranking system reports: the NCF family, popularity and EASE.

Each ``fit_*`` trains one row on a :class:`~hncf.pipeline.splits.PreparedSplit`, selects on the
validation carve-out (never the test set), refits on all training data, and returns
``(score_fn, record)`` for the protocols and the report. The NCF paper's experiment, BERT-RS and
HNCF put the same rows beside their hybrids, so they live here rather than in one experiment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import pandas as pd

from hncf.data.sampling import user_item_csr
from hncf.data.schema import ITEM, USER
from hncf.evaluation import evaluate_sampled
from hncf.generators import PointwiseNegativeSampler
from hncf.models.ease import EASE
from hncf.models.ncf import BUILDERS, PopularityModel, load_pretrained_neumf
from hncf.pipeline.selection import select_then_refit
from hncf.pipeline.splits import PreparedSplit
from hncf.serving.bundle import save_bundle
from hncf.training import TrainConfig, compile_pointwise, make_score_fn

EASE_L2_GRID = (10.0, 50.0, 200.0, 500.0, 1000.0)


@dataclass
class ModelSpec:
    """One row of a results table: which builder, its sizes and how it trains."""

    label: str
    kind: str  # "gmf" | "mlp" | "neumf" | "mf" | "popularity" | "neumf_pretrained"
    sizes: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    validate: bool = True  # select the epoch on validation (else: train every epoch, keep the last)
    refit: bool = True  # after selection, retrain on all training data for the selected number of epochs


def fit_row(spec: ModelSpec, split: PreparedSplit, seed: int, checkpoint_root: Path | None, resume: bool,
            trained: dict, verbose, run_config: dict | None = None, bundle_dir: Path | None = None,
            item_info: pd.DataFrame | None = None, progress: bool = False) -> tuple[object, dict]:
    """Train one row of the NCF family through the shared select-then-refit stage; return (score_fn, record).

    ``trained`` collects the GMF and MLP models of each stage for NeuMF pretraining, so the
    pretrained row must come after them. With ``bundle_dir`` the trained model is saved there as
    a bundle that ``hncf.load`` turns into a recommender.
    """
    if spec.kind == "popularity":
        t0 = time.perf_counter()
        model = PopularityModel(len(split.items)).fit(split.full_train[ITEM].to_numpy())
        return model.score, {"train_seconds": time.perf_counter() - t0, "epochs": 0}
    n_users, n_items = len(split.users), len(split.items)
    kind = "neumf" if spec.kind == "neumf_pretrained" else spec.kind

    def build(stage: str):
        train = split.stage_train(stage)
        cfg = spec.train
        keras.utils.set_random_seed(seed)
        model = BUILDERS[kind](n_users, n_items, seed=seed, **spec.sizes)
        if spec.kind == "neumf_pretrained":
            init = trained.get(stage, {})
            if "gmf" not in init or "mlp" not in init:
                raise ValueError("NeuMF pretraining needs the GMF and MLP rows trained first")
            load_pretrained_neumf(model, init["gmf"], init["mlp"])
        sampler = PointwiseNegativeSampler(train[USER].to_numpy(), train[ITEM].to_numpy(), n_users, n_items,
                                           n_neg=cfg.n_neg, batch_size=cfg.batch_size, seed=seed,
                                           exclude=split.stage_csr(stage))
        return compile_pointwise(model, cfg), sampler

    def keep(stage: str, model):
        if spec.kind in ("gmf", "mlp"):
            trained.setdefault(stage, {})[spec.kind] = model

    ckpt = None if checkpoint_root is None else checkpoint_root / row_slug(spec.label)
    model, record = select_then_refit(build, spec.train, split.validation if spec.validate else None,
                                      refit=spec.refit, checkpoint_dir=ckpt, resume=resume, verbose=verbose,
                                      run_config=run_config, on_trained=keep, progress=progress and not verbose)
    record["sizes"] = {k: list(v) if isinstance(v, tuple) else v for k, v in spec.sizes.items()}
    if bundle_dir is not None:
        save_bundle(bundle_dir, model, split.users, split.items, split.train_csr(), item_info=item_info,
                    meta={**(run_config or {}), "system": "ncf", "row": spec.label, "kind": spec.kind})
        record["bundle"] = str(bundle_dir)
    return make_score_fn(model), record


def row_slug(label: str) -> str:
    """A row label as a folder name (its checkpoints and bundle live under it)."""
    return label.replace(" ", "_").replace("/", "-")



def fit_ease(split: PreparedSplit) -> tuple[object, dict]:
    """EASE with its l2 chosen on the validation carve-out (HR@10), then refit on all training data."""
    n_users, n_items = len(split.users), len(split.items)
    t0 = time.perf_counter()
    sel_x = user_item_csr(split.train[USER], split.train[ITEM], n_users, n_items)
    val = split.validation
    scores = {l2: evaluate_sampled(EASE(l2).fit(sel_x).score, val.users, val.items, val.negatives, ks=(10,))["hr@10"]
              for l2 in EASE_L2_GRID}
    best = max(EASE_L2_GRID, key=lambda l2: (scores[l2], -l2))  # ties: the stronger regularisation
    model = EASE(best).fit(split.train_csr())
    return model.score, {"train_seconds": time.perf_counter() - t0, "l2": best, "validation_hr@10": scores}
