"""Select the epoch on validation, refit on all training data, record what happened: once, for every system.

An experiment describes a row by ``build(stage) -> (model, data)``: a freshly initialised,
compiled model and its training batches for ``stage``, which is ``"selection"`` (the training
data minus the validation carve-out) or ``"final"`` (all training data). Then:

* validated rows train on the selection data, keep the best epoch by ``validation.monitor``
  (early stopping with ``config.patience``), and, with ``refit``, train again from scratch on all
  training data for that many epochs, so the most recent interactions, which validation holds
  out, are not lost to the final model;
* unvalidated rows (a paper's literal settings) train on all training data for
  ``config.epochs`` and keep the last epoch.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import keras

from hncf.training import EpochProgress, TrainConfig, Validation, train

Build = Callable[[str], tuple[keras.Model, object]]


def select_then_refit(build: Build, config: TrainConfig, validation: Validation | None = None, *,
                      refit: bool = True, checkpoint_dir: str | Path | None = None, resume: bool = False,
                      verbose: int | str = 0, run_config: dict | None = None,
                      on_trained: Callable[[str, keras.Model], None] | None = None,
                      progress: bool = False) -> tuple[keras.Model, dict]:
    """Train one row as described in the module docstring; return (final model, record).

    ``on_trained(stage, model)`` sees each stage's trained model (NeuMF pretraining collects the
    GMF and MLP models of each stage this way). Checkpoints go to ``checkpoint_dir``/``refit``
    for the refit, so ``resume`` continues either stage. The record holds epochs, best epoch,
    history, timings and the configuration, for the report. ``progress`` prints about ten short
    lines per stage (use it with ``verbose=0``).
    """
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir)
    record = {"config": dataclasses.asdict(config), "validated": validation is not None,
              "refit": validation is not None and refit}

    def stage(name: str, cfg: TrainConfig, val, where):
        model, data = build(name)
        callbacks = [EpochProgress(f"{name}: ")] if progress else []
        model, result = train(model, data, cfg, val, checkpoint_dir=where, resume=resume, verbose=verbose,
                              run_config=None if run_config is None else {**run_config, "stage": name},
                              callbacks=callbacks)
        if on_trained is not None:
            on_trained(name, model)
        record["rows_per_epoch"] = data.rows_per_epoch
        # Examples and seconds trained in this process, over every stage (throughput of a resumed run).
        record["examples"] = record.get("examples", 0) + result.examples
        record["session_seconds"] = record.get("session_seconds", 0.0) + result.session_seconds
        return model, result

    if validation is None:
        model, res = stage("final", config, None, ckpt)
        record.update(epochs=res.epochs_run, best_epoch=None, history=res.history, train_seconds=res.train_seconds,
                      examples_per_second=res.examples_per_second, resumed=res.resumed)
        return model, record
    model, sel = stage("selection", config, validation, ckpt)
    record.update(epochs=sel.epochs_run, best_epoch=sel.best_epoch, history=sel.history,
                  selection_seconds=sel.train_seconds, train_seconds=sel.train_seconds,
                  examples_per_second=sel.examples_per_second, resumed=sel.resumed)
    if refit:
        refit_cfg = dataclasses.replace(config, epochs=sel.best_epoch, patience=None)
        model, fin = stage("final", refit_cfg, None, None if ckpt is None else ckpt / "refit")
        record.update(refit_seconds=fin.train_seconds, train_seconds=sel.train_seconds + fin.train_seconds,
                      examples_per_second=fin.examples_per_second, resumed=sel.resumed or fin.resumed)
    return model, record
