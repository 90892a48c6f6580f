"""The rating stage: (user, item, rating) rows through the shared select-then-refit trainer.

Rating models (the content hybrid's NCF and biased MF, the page's NCF) own an MSE loss on ratings
scaled to [-1, 1] (:func:`hncf.models.rating.compile_rating`). This module gives them what every
other system already has: a :class:`RatingValidation` (validation RMSE in stars, lower is better)
on ratings carved from the *training* ratings, an :class:`~hncf.generators.ArrayBatches` source whose
batch k is a pure function of (seed, epoch, k), and :func:`fit_rating_model`, which hands both to
:func:`~hncf.pipeline.selection.select_then_refit` (best epoch by validation RMSE, early stopping,
checkpoints, exact resume, then by default a refit on all training ratings for that many epochs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from hncf.evaluation.metrics import mae, rmse
from hncf.generators import ArrayBatches
from hncf.models.rating import compile_rating, predict_scores, scale_ratings, unscale_ratings
from hncf.pipeline.selection import select_then_refit
from hncf.training import TrainConfig


@dataclass(frozen=True)
class RatingRows:
    """Ratings as index arrays: ``users`` and ``items`` (0-based model indices) and ``ratings`` in stars."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray

    def __post_init__(self):
        for name in ("users", "items", "ratings"):
            object.__setattr__(self, name, np.asarray(getattr(self, name)))
        if not len(self.users) == len(self.items) == len(self.ratings):
            raise ValueError(f"users, items and ratings differ in length: "
                             f"{len(self.users)}, {len(self.items)}, {len(self.ratings)}")

    def __len__(self) -> int:
        return len(self.ratings)

    @classmethod
    def concat(cls, *parts: "RatingRows") -> "RatingRows":
        """The rows of ``parts`` one after the other."""
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("users", "items", "ratings")))


def rating_batches(rows: RatingRows, lo: float, hi: float, batch_size: int, seed: int) -> ArrayBatches:
    """``({"user_id", "item_id"}, scaled rating)`` batches, reshuffled per epoch from ``(seed, epoch)``."""
    x = {"user_id": rows.users.astype(np.int32), "item_id": rows.items.astype(np.int32)}
    return ArrayBatches(x, scale_ratings(rows.ratings, lo, hi), batch_size=batch_size, seed=seed)


@dataclass
class RatingValidation:
    """Validation RMSE and MAE in stars on held-out training ratings: what selects a rating model's epoch.

    Predictions are mapped back from [-1, 1] to ``[lo, hi]`` (and clipped) first, so the monitored
    number is the one the report gives for the test ratings.
    """

    rows: RatingRows
    lo: float
    hi: float
    monitor: str = "val_rmse"
    mode: str = "min"

    def evaluate(self, model: keras.Model) -> dict:
        """Validation RMSE (the monitor) and MAE of ``model``'s current weights."""
        pred = unscale_ratings(predict_scores(model, self.rows.users, self.rows.items), self.lo, self.hi)
        return {self.monitor: rmse(self.rows.ratings, pred), "val_mae": mae(self.rows.ratings, pred)}


def fit_rating_model(make_model: Callable[[], keras.Model], fit: RatingRows, validation: RatingRows | None,
                     config: TrainConfig, lo: float, hi: float, *, refit: bool = True,
                     checkpoint_dir: str | Path | None = None, resume: bool = False, run_config: dict | None = None,
                     verbose: int | str = 0, progress: bool = False) -> tuple[keras.Model, dict]:
    """Train a rating model through :func:`select_then_refit`; return (final model, record).

    ``make_model()`` returns a freshly initialised rating model (scores in [-1, 1]); it is built
    under ``keras.utils.set_random_seed(config.seed)`` and compiled with :func:`compile_rating`.
    With ``validation`` (rows carved from the training ratings, never the test set) the epoch with
    the lowest validation RMSE is selected (``config.patience`` stops early; ties keep the earlier
    epoch) and, with ``refit``, a fresh model trains on ``fit`` + ``validation`` for that many epochs.
    Without ``validation`` the model trains on ``fit`` for ``config.epochs`` and keeps the last epoch.
    The record is :func:`select_then_refit`'s (``epochs``, ``best_epoch``, ``history`` with
    ``loss``, ``val_rmse``, ``val_mae``, timings) plus ``best_val_rmse`` and the row counts.
    """
    everything = fit if validation is None else RatingRows.concat(fit, validation)

    def build(stage: str):
        keras.utils.set_random_seed(config.seed)
        model = compile_rating(make_model(), config.learning_rate,
                               steps_per_execution=config.resolved_steps_per_execution())
        rows = fit if stage == "selection" else everything
        return model, rating_batches(rows, lo, hi, config.batch_size, config.seed)

    val = None if validation is None else RatingValidation(validation, lo, hi)
    model, record = select_then_refit(build, config, val, refit=refit, checkpoint_dir=checkpoint_dir, resume=resume,
                                      verbose=verbose, run_config=run_config, progress=progress)
    history = record.get("history", {})
    record.update(best_val_rmse=min(history["val_rmse"]) if history.get("val_rmse") else None,
                  n_fit=len(fit), n_validation=0 if validation is None else len(validation),
                  n_final=len(everything) if record["refit"] else len(fit))
    return model, record


__all__ = ["RatingRows", "RatingValidation", "fit_rating_model", "rating_batches"]
