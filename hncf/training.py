"""Training loop for pointwise (binary cross-entropy) recommenders.

``train_pointwise`` runs ``model.fit`` on a :class:`~data_generators.ncf.PointwiseNegativeSampler`
with three additions that the papers' scripts lack:

* model selection on a validation split carved from *training* data (never the
  test set): the best epoch by validation HR@10 is kept, with optional early stopping;
* a checkpoint after every epoch (model + optimizer + sampler position + history),
  written atomically, so an interrupted run resumes where it stopped and gives the
  same result as an uninterrupted one;
* timings (training seconds, examples per second) for the reports.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from hncf.evaluation.protocols import evaluate_sampled


def make_score_fn(model: keras.Model, batch_size: int = 1 << 16, item_features: dict | None = None):
    """Wrap a Keras recommender as ``score_fn(users, items) -> scores`` for the protocols.

    ``item_features`` maps extra input names to per-item tables (``[n_items, ...]``), gathered for
    the scored items (e.g. cached text and poster vectors). Scores in large chunks through the
    compiled predict function (no per-item loop).
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
            out.append(np.asarray(model.predict_on_batch(x)).reshape(-1))
        return np.concatenate(out)[:n] if out else np.zeros(0, dtype=np.float32)

    return score


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

    @property
    def monitor(self) -> str:
        """The log key that model selection watches."""
        return f"val_hr@{self.k}"

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
    train_seconds: float = 0.0
    examples: int = 0

    @property
    def examples_per_second(self) -> float:
        """Training throughput over the epochs run in this process."""
        return self.examples / self.train_seconds if self.train_seconds > 0 else float("nan")


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

    def __init__(self, validation: ValidationSet | None, patience: int | None, checkpoint_dir: Path | None,
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
            res = evaluate_sampled(v.score_fn(self.model), v.users, v.items, v.negatives, ks=(v.k,))
            logs[v.monitor] = res[f"hr@{v.k}"]
            logs[f"val_ndcg@{v.k}"] = res[f"ndcg@{v.k}"]
            score = logs[v.monitor]
            if self.state.get("best") is None or score > self.state["best"]:
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


def _load_checkpoint(checkpoint_dir: Path):
    state_path = checkpoint_dir / "state.json"
    model_path = checkpoint_dir / "last.keras"
    if not (state_path.exists() and model_path.exists()):
        return None, None
    state = json.loads(state_path.read_text())
    model = keras.models.load_model(str(model_path), safe_mode=True)
    _restore_seed_states(model, state.get("seed_states"), state_path)
    return model, state


def train_pointwise(model: keras.Model, sampler, config: TrainConfig, validation: ValidationSet | None = None,
                    checkpoint_dir: str | os.PathLike | None = None, resume: bool = False,
                    verbose: int | str = "auto", callbacks=()) -> tuple[keras.Model, TrainResult]:
    """Train ``model`` on ``sampler`` and return the (best, if validated) model and its result.

    With ``checkpoint_dir`` every epoch is saved; with ``resume=True`` and a
    checkpoint present, training continues from it (the returned model is the
    reloaded one). The model is left with the weights of the best validation
    epoch when ``validation`` is given, else with those of the last epoch.
    """
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    state = {"history": {}, "best": None, "best_epoch": None, "epoch": 0, "config": asdict(config)}
    if ckpt is not None:
        ckpt.mkdir(parents=True, exist_ok=True)
        if resume:
            loaded, saved_state = _load_checkpoint(ckpt)
            if loaded is not None:
                model, state = loaded, saved_state
        else:
            for name in ("state.json", "last.keras", "best.weights.h5"):
                (ckpt / name).unlink(missing_ok=True)
    if getattr(model, "optimizer", None) is None:
        compile_pointwise(model, config)
    start_epoch = int(state["epoch"])
    result = TrainResult(history=state["history"], epochs_run=start_epoch, best_epoch=state.get("best_epoch"))
    if start_epoch >= config.epochs or state.get("stopped_early"):
        if ckpt is not None and state.get("best_epoch") is not None:
            model.load_weights(str(ckpt / "best.weights.h5"))
        return model, result
    sampler.set_epoch(start_epoch)
    spe = sampler.align_to(config.resolved_steps_per_execution())
    if model.steps_per_execution != spe:
        # A reloaded model does not carry it, and the sampler's alignment must match it exactly.
        model.steps_per_execution = spe
        model.train_function = None  # rebuilt by fit with the new step count
    selector = SelectionAndCheckpoint(validation, config.patience, ckpt, state)
    t0 = time.perf_counter()
    model.fit(sampler, epochs=config.epochs, initial_epoch=start_epoch, steps_per_epoch=sampler.batches_per_epoch,
              shuffle=False, verbose=verbose, callbacks=[selector, *callbacks])
    result.train_seconds = time.perf_counter() - t0
    result.epochs_run = int(state["epoch"])
    result.examples = (result.epochs_run - start_epoch) * sampler.rows_per_epoch
    result.best_epoch = state.get("best_epoch")
    result.history = state["history"]
    return model, result

