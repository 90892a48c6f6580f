"""One trainer for every system: selection on validation, atomic checkpoints, exact resume.

:func:`train` runs ``model.fit`` for any compiled Keras model (the model owns its loss: pointwise
BCE with sampled negatives, multi-label BCE, softmax cross-entropy, MSE on ratings) on any
:class:`~hncf.generators.base.EpochBatches` generator, with three additions that the papers'
scripts lack:

* model selection on a validation split carved from *training* data (never the
  test set): the best epoch by the validation's metric (higher HR, or lower RMSE) is kept,
  with optional early stopping;
* a checkpoint after every epoch (model + optimizer + sampler position + history),
  written atomically, so an interrupted run resumes where it stopped and gives the
  same result as an uninterrupted one;
* timings (training seconds, examples per second) for the reports.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import keras
import numpy as np

from hncf.evaluation.protocols import evaluate_sampled


def make_score_fn(model: keras.Model, batch_size: int = 1 << 16, item_features: dict | None = None,
                  pair_features=None):
    """Wrap a Keras recommender as ``score_fn(users, items) -> scores`` for the protocols.

    ``item_features`` maps extra input names to per-item tables (``[n_items, ...]``), gathered for
    the scored items (e.g. cached text and poster vectors); ``pair_features(users, items) -> dict``
    gives inputs that depend on the pair (e.g. BERT-RS's review vector). Scores in large chunks
    through the compiled predict function (no per-item loop).
    """
    tables = item_features or {}

    def score(users, items):
        users = np.asarray(users, dtype=np.int32)
        items = np.asarray(items, dtype=np.int32)
        n = len(users)
        # Pad to whole chunks so the predict function sees one input shape and never retraces.
        chunk = min(batch_size, max(n, 1))
        pad = -n % chunk
        users = np.concatenate([users, np.zeros(pad, np.int32)])
        items = np.concatenate([items, np.zeros(pad, np.int32)])
        out = []
        for s in range(0, len(users), chunk):
            x = {"user_id": users[s:s + chunk], "item_id": items[s:s + chunk]}
            for key, table in tables.items():
                x[key] = table[x["item_id"]]
            if pair_features is not None:
                x.update(pair_features(x["user_id"], x["item_id"]))
            out.append(np.asarray(model.predict_on_batch(x)).reshape(-1))
        return np.concatenate(out)[:n] if out else np.zeros(0, dtype=np.float32)

    return score


class Validation(Protocol):
    """What the trainer needs of a validation: the log key it watches, its direction, and how to compute it."""

    monitor: str  # the log key selection watches, e.g. "val_hr@10" or "val_rmse"
    mode: str  # "max" (higher is better) or "min"

    def evaluate(self, model: keras.Model) -> dict:
        """Logs for the current weights of ``model``; must include ``monitor``."""


def better(score: float, best: float | None, mode: str) -> bool:
    """Whether ``score`` improves on ``best`` (ties keep the earlier epoch)."""
    if mode not in ("max", "min"):
        raise ValueError(f"validation mode must be 'max' or 'min', got {mode!r}")
    if best is None:
        return True
    return score > best if mode == "max" else score < best


@dataclass
class ValidationSet:
    """Held-out training interactions ranked against sampled negatives (He et al. protocol)."""

    users: np.ndarray
    items: np.ndarray
    negatives: np.ndarray
    k: int = 10
    item_features: dict | None = None  # per-item input tables the model needs besides the ids
    # model -> score_fn, for models that cannot be scored from id and item tables alone (end to end)
    score_fn_factory: Callable | None = None

    mode = "max"

    @property
    def monitor(self) -> str:
        """The log key that model selection watches."""
        return f"val_hr@{self.k}"

    def evaluate(self, model: keras.Model) -> dict:
        """Validation HR@k and NDCG@k of ``model``."""
        res = evaluate_sampled(self.score_fn(model), self.users, self.items, self.negatives, ks=(self.k,))
        return {self.monitor: res[f"hr@{self.k}"], f"val_ndcg@{self.k}": res[f"ndcg@{self.k}"]}

    def score_fn(self, model: keras.Model):
        """How ``model`` scores (user, item) pairs during validation."""
        if self.score_fn_factory is not None:
            return self.score_fn_factory(model)
        return make_score_fn(model, item_features=self.item_features)


@dataclass
class TrainConfig:
    """Hyperparameters of one pointwise training run."""

    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    n_neg: int = 4
    seed: int = 0
    patience: int | None = None  # epochs without improvement before stopping; None runs every epoch
    steps_per_execution: int | None = None  # None: enough steps per call to amortise Python overhead

    def resolved_steps_per_execution(self) -> int:
        """Steps run inside one compiled call; large for small batches, where overhead dominates."""
        if self.steps_per_execution:
            return int(self.steps_per_execution)
        return max(1, min(64, (1 << 15) // self.batch_size))


@dataclass
class TrainResult:
    """What a run produced besides the trained weights."""

    history: dict = field(default_factory=dict)
    epochs_run: int = 0
    best_epoch: int | None = None
    train_seconds: float = 0.0  # every epoch's training, those before a resume included
    examples: int = 0  # examples trained in this process
    session_seconds: float = 0.0  # training seconds in this process
    resumed: bool = False

    @property
    def examples_per_second(self) -> float:
        """Training throughput over the epochs run in this process."""
        return self.examples / self.session_seconds if self.session_seconds > 0 else float("nan")


def compile_pointwise(model: keras.Model, config: TrainConfig) -> keras.Model:
    """Compile with Adam and binary cross-entropy as in He et al. (2017)."""
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        steps_per_execution=config.resolved_steps_per_execution(),  # the trainer aligns it to the epoch
        # XLA is many times slower than the default graph for these gather-heavy tiny models on CPU.
        jit_compile=False,
    )
    return model


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_save(save, path: Path) -> None:
    # Keras picks the format from the suffix, so the temp name keeps it.
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        save(str(tmp))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _seed_states(model: keras.Model) -> list:
    """The random-number states of the model's dropout layers, in a fixed order.

    Keras saves them as non-trainable variables but does not restore their values from a
    ``.keras`` file, so a resumed model would replay the first epoch's dropout masks.
    """
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _restore_seed_states(model: keras.Model, states: list | None, source: Path) -> None:
    if states is None:
        return
    variables = _seed_states(model)
    if len(states) != len(variables):
        raise ValueError(f"{source} holds {len(states)} dropout seed states but the checkpointed model has "
                         f"{len(variables)}: the checkpoint folder mixes two models")
    for v, value in zip(variables, states):
        v.assign(np.asarray(value, dtype=v.dtype))


class SelectionAndCheckpoint(keras.callbacks.Callback):
    """Validation ranking metrics, best-epoch selection, early stopping and per-epoch checkpoints.

    One callback rather than three so the checkpoint always records the same
    best-epoch state that selection uses, which is what makes resuming exact.
    """

    def __init__(self, validation: Validation | None, patience: int | None, checkpoint_dir: Path | None,
                 state: dict):
        super().__init__()
        self.validation = validation
        self.patience = patience
        self.checkpoint_dir = checkpoint_dir
        self.state = state  # history, best, best_epoch, epoch: shared with train_pointwise
        self._best_weights = None

    def on_train_begin(self, logs=None):
        if self.state.get("best_epoch") is not None and self.checkpoint_dir is not None:
            best_path = self.checkpoint_dir / "best.weights.h5"
            if best_path.exists():
                current = self.model.get_weights()
                self.model.load_weights(str(best_path))
                self._best_weights = self.model.get_weights()
                self.model.set_weights(current)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if self.validation is not None:
            v = self.validation
            logs.update(v.evaluate(self.model))
            if v.monitor not in logs:
                raise KeyError(f"validation returned {sorted(logs)} without its monitor {v.monitor!r}")
            score = float(logs[v.monitor])
            if better(score, self.state.get("best"), v.mode):
                self.state["best"], self.state["best_epoch"] = float(score), epoch + 1
                self._best_weights = self.model.get_weights()
                if self.checkpoint_dir is not None:
                    _atomic_save(self.model.save_weights, self.checkpoint_dir / "best.weights.h5")
            elif self.patience is not None and epoch + 1 - self.state["best_epoch"] >= self.patience:
                self.model.stop_training = True
                self.state["stopped_early"] = True
        for key, value in logs.items():
            self.state["history"].setdefault(key, []).append(float(value))
        self.state["epoch"] = epoch + 1
        if self.checkpoint_dir is not None:
            _atomic_save(self.model.save, self.checkpoint_dir / "last.keras")
            # In the same atomic write as the epoch count they belong to.
            self.state["seed_states"] = [np.asarray(v.numpy()).tolist() for v in _seed_states(self.model)]
            _atomic_write_text(self.checkpoint_dir / "state.json", json.dumps(self.state, indent=1))

    def on_train_end(self, logs=None):
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from: corrupt, or written by another run configuration."""


def _load_checkpoint(checkpoint_dir: Path, run_config: dict | None):
    state_path = checkpoint_dir / "state.json"
    model_path = checkpoint_dir / "last.keras"
    if not (state_path.exists() and model_path.exists()):
        return None, None
    fix = f"delete {checkpoint_dir} or run without --resume"
    try:
        state = json.loads(state_path.read_text())
    except (ValueError, OSError) as e:
        raise CheckpointError(f"{state_path} is corrupt ({e}): {fix}") from e
    saved = state.get("run_config")
    if run_config is not None and saved is not None and saved != run_config:
        diff = sorted(k for k in set(saved) | set(run_config) if saved.get(k) != run_config.get(k))
        raise CheckpointError(f"{state_path} was written by another run configuration (differs in "
                              f"{', '.join(diff)}: {', '.join(f'{k}={saved.get(k)!r}' for k in diff)}): {fix}, "
                              "or pass the same settings")
    try:
        model = keras.models.load_model(str(model_path), safe_mode=True)
    except Exception as e:  # Keras raises many types for a truncated zip
        raise CheckpointError(f"{model_path} cannot be loaded ({type(e).__name__}: {e}): {fix}") from e
    _restore_seed_states(model, state.get("seed_states"), state_path)
    return model, state


def train(model: keras.Model, data, config: TrainConfig, validation: Validation | None = None,
          checkpoint_dir: str | os.PathLike | None = None, resume: bool = False, verbose: int | str = "auto",
          callbacks=(), run_config: dict | None = None) -> tuple[keras.Model, TrainResult]:
    """Train a compiled ``model`` on ``data`` (an ``EpochBatches``); return the selected model and its result.

    The model owns its loss (compile it first). With ``validation`` the best epoch by
    ``validation.monitor`` in the direction ``validation.mode`` is kept and ``config.patience``
    stops early; without it the last epoch is kept. With ``checkpoint_dir`` every epoch is saved
    atomically; ``resume=True`` continues from the checkpoint there (the returned model is the
    reloaded one) and refuses one written under another ``run_config`` (e.g. system, dataset, seed).
    """
    if int(config.epochs) < 1:
        raise ValueError(f"epochs must be >= 1, got {config.epochs}")
    if not (math.isfinite(config.learning_rate) and config.learning_rate > 0):
        raise ValueError(f"learning rate must be a finite number > 0, got {config.learning_rate}")
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if run_config is not None:
        # As state.json will hold it (tuples become lists), so a resumed run compares like with like.
        run_config = json.loads(json.dumps(run_config, default=str))
    state = {"history": {}, "best": None, "best_epoch": None, "epoch": 0, "config": asdict(config),
             "run_config": run_config}
    resumed = False
    if ckpt is not None:
        ckpt.mkdir(parents=True, exist_ok=True)
        if resume:
            loaded, saved_state = _load_checkpoint(ckpt, run_config)
            if loaded is not None:
                model, state, resumed = loaded, saved_state, True
        else:
            for name in ("state.json", "last.keras", "best.weights.h5"):
                (ckpt / name).unlink(missing_ok=True)
    if getattr(model, "optimizer", None) is None:
        raise ValueError("compile the model with its loss and optimizer before training")
    start_epoch = int(state["epoch"])
    result = TrainResult(history=state["history"], epochs_run=start_epoch, best_epoch=state.get("best_epoch"),
                         train_seconds=float(state.get("train_seconds", 0.0)), resumed=resumed)
    if start_epoch >= config.epochs or state.get("stopped_early"):
        if ckpt is not None and state.get("best_epoch") is not None:
            model.load_weights(str(ckpt / "best.weights.h5"))
        return model, result
    data.set_epoch(start_epoch)
    spe = data.align_to(config.resolved_steps_per_execution())
    if model.steps_per_execution != spe:
        # A reloaded model does not carry it, and the generator's alignment must match it exactly.
        model.steps_per_execution = spe
        model.train_function = None  # rebuilt by fit with the new step count
    timer = _EpochTimer(state)
    selector = SelectionAndCheckpoint(validation, config.patience, ckpt, state)
    # A tf.data pipeline (e.g. TFNegativeSampler) hands fit its dataset, distributed under a strategy scope.
    fit_data = data.as_dataset() if hasattr(data, "as_dataset") else data
    model.fit(fit_data, epochs=config.epochs, initial_epoch=start_epoch, steps_per_epoch=data.batches_per_epoch,
              shuffle=False, verbose=verbose, callbacks=[timer, selector, *callbacks])
    result.train_seconds = float(state.get("train_seconds", 0.0))
    result.epochs_run = int(state["epoch"])
    result.examples = (result.epochs_run - start_epoch) * data.rows_per_epoch
    result.session_seconds = timer.session_seconds
    result.best_epoch = state.get("best_epoch")
    result.history = state["history"]
    return model, result


class EpochProgress(keras.callbacks.Callback):
    """One short line per reported epoch (about ten lines per run, however many epochs), for logs and notebooks.

    Keras' own per-epoch lines turn a 100-epoch row into 100 lines; this prints the first and
    last epoch and every ``every``-th (default: a tenth of the run).
    """

    def __init__(self, label: str = "", every: int | None = None):
        super().__init__()
        self.label, self.every = label, every

    def on_epoch_end(self, epoch, logs=None):
        total = self.params.get("epochs", epoch + 1)
        every = self.every or max(1, total // 10)
        e = epoch + 1
        if e == 1 or e == total or e % every == 0:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items() if isinstance(v, (int, float)))
            print(f"[hncf]   {self.label}epoch {e}/{total}: {shown}", flush=True)


class _EpochTimer(keras.callbacks.Callback):
    """Adds each epoch's training seconds to the state before it is checkpointed, so a resumed
    run reports the seconds of the epochs trained before the interruption too."""

    def __init__(self, state: dict):
        super().__init__()
        self.state = state
        self.session_seconds = 0.0
        self._t0 = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        dt = time.perf_counter() - self._t0
        self.session_seconds += dt
        self.state["train_seconds"] = float(self.state.get("train_seconds", 0.0)) + dt


def train_pointwise(model: keras.Model, sampler, config: TrainConfig, validation: ValidationSet | None = None,
                    checkpoint_dir: str | os.PathLike | None = None, resume: bool = False,
                    verbose: int | str = "auto", callbacks=(), run_config: dict | None = None
                    ) -> tuple[keras.Model, TrainResult]:
    """:func:`train` for the pointwise recommenders: compiles BCE + Adam (He et al.) if not compiled yet."""
    if getattr(model, "optimizer", None) is None:
        compile_pointwise(model, config)
    return train(model, sampler, config, validation, checkpoint_dir, resume, verbose, callbacks, run_config)
