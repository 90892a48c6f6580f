"""The trainer serves every loss the five papers use, each resuming to the same weights.

Tiny models on :class:`ArrayBatches` (or the negative sampler): multi-label BCE over many outputs,
softmax cross-entropy, MSE on ratings watched with ``mode="min"``, and pointwise BCE.
"""

from dataclasses import dataclass

import keras
import numpy as np
import pytest

from hncf.generators import ArrayBatches
from hncf.training import CheckpointError, TrainConfig, better, train

N, D, N_OUT = 96, 6, 30


@dataclass
class LossValidation:
    """Validation by a Keras evaluation on held-out arrays (lower loss is better)."""

    x: dict
    y: np.ndarray
    monitor: str = "val_loss"
    mode: str = "min"

    def evaluate(self, model):
        return {self.monitor: float(model.evaluate(self.x, self.y, verbose=0, return_dict=True)["loss"])}


def _data(kind: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D)).astype("float32")
    w = rng.normal(size=(D, N_OUT)).astype("float32")
    logits = x @ w
    if kind == "multilabel":
        y = (logits > 1.0).astype("float32")
    elif kind == "softmax":
        y = logits.argmax(1).astype("int32")
    else:  # mse
        y = logits[:, 0].astype("float32")
    return {"features": x}, y


def _model(kind: str, cfg: TrainConfig):
    keras.utils.set_random_seed(cfg.seed)
    inp = keras.Input((D,), name="features")
    h = keras.layers.Dense(16, activation="relu", name="hidden")(inp)
    h = keras.layers.Dropout(0.3, seed=cfg.seed, name="dropout")(h)
    if kind == "mse":
        out = keras.layers.Dense(1, name="rating")(h)
        loss = "mse"
    else:
        out = keras.layers.Dense(N_OUT, name="logits")(h)
        loss = (keras.losses.BinaryCrossentropy(from_logits=True) if kind == "multilabel"
                else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model = keras.Model(inp, out, name=f"tiny_{kind}")
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss=loss,
                  steps_per_execution=cfg.resolved_steps_per_execution())
    return model


def _run(kind, cfg, ckpt=None, resume=False, run_config=None):
    x, y = _data(kind)
    fit_x, fit_y = {"features": x["features"][:72]}, y[:72]
    val = LossValidation({"features": x["features"][72:]}, y[72:])
    data = ArrayBatches(fit_x, fit_y, batch_size=cfg.batch_size, seed=cfg.seed)
    return train(_model(kind, cfg), data, cfg, val, checkpoint_dir=ckpt, resume=resume, verbose=0,
                 run_config=run_config)


@pytest.mark.parametrize("kind", ["multilabel", "softmax", "mse"])
def test_each_loss_trains_selects_on_validation_and_resumes_exactly(kind, tmp_path):
    cfg = TrainConfig(epochs=6, batch_size=16, learning_rate=5e-3, seed=3)
    full_model, full = _run(kind, cfg)
    hist = full.history["val_loss"]
    assert full.best_epoch == int(np.argmin(hist)) + 1
    assert hist[-1] < hist[0] * 1.5 and full.history["loss"][-1] < full.history["loss"][0]

    ckpt = tmp_path / kind
    _run(kind, TrainConfig(epochs=3, batch_size=16, learning_rate=5e-3, seed=3), ckpt=ckpt)
    resumed_model, resumed = _run(kind, cfg, ckpt=ckpt, resume=True)
    assert resumed.resumed and resumed.epochs_run == 6
    np.testing.assert_allclose(resumed.history["val_loss"], hist, rtol=1e-5)
    for a, b in zip(full_model.get_weights(), resumed_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert resumed.train_seconds > resumed.session_seconds > 0  # the epochs before the resume count too


def test_resume_refuses_a_checkpoint_of_another_run_configuration(tmp_path):
    cfg = TrainConfig(epochs=2, batch_size=16, learning_rate=5e-3, seed=0)
    _run("mse", cfg, ckpt=tmp_path, run_config={"system": "x", "seed": 0})
    with pytest.raises(CheckpointError, match=r"differs in seed: seed=0.*without --resume"):
        _run("mse", cfg, ckpt=tmp_path, resume=True, run_config={"system": "x", "seed": 1})
    # A configuration holding tuples (a preset's grid) equals itself after the JSON round trip of state.json.
    _run("mse", cfg, ckpt=tmp_path / "t", run_config={"grid": (0.5, 1.0)})
    _, res = _run("mse", cfg, ckpt=tmp_path / "t", resume=True, run_config={"grid": (0.5, 1.0)})
    assert res.resumed


def test_corrupt_checkpoint_files_are_named(tmp_path):
    cfg = TrainConfig(epochs=2, batch_size=16, learning_rate=5e-3, seed=0)
    _run("mse", cfg, ckpt=tmp_path)
    (tmp_path / "state.json").write_text('{"epoch": 1,')
    with pytest.raises(CheckpointError, match=r"state\.json is corrupt.*delete"):
        _run("mse", cfg, ckpt=tmp_path, resume=True)
    _run("mse", cfg, ckpt=tmp_path)
    data = (tmp_path / "last.keras").read_bytes()
    (tmp_path / "last.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"last\.keras cannot be loaded"):
        _run("mse", cfg, ckpt=tmp_path, resume=True)


def test_bad_settings_are_refused_before_any_work():
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        _run("mse", TrainConfig(epochs=0))
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="learning rate must be a finite number > 0"):
            _run("mse", TrainConfig(epochs=1, learning_rate=bad))
    model = keras.Sequential([keras.Input((D,), name="features"), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compile the model"):
        train(model, ArrayBatches(*_data("mse")), TrainConfig(epochs=1))


def test_better_respects_the_direction_and_keeps_the_earlier_epoch_on_ties():
    assert better(0.5, None, "max") and better(0.6, 0.5, "max") and not better(0.5, 0.5, "max")
    assert better(0.4, 0.5, "min") and not better(0.5, 0.5, "min")
    with pytest.raises(ValueError, match="'max' or 'min'"):
        better(1.0, 0.0, "up")


def test_array_batches_cover_every_row_once_per_epoch_in_a_seeded_order():
    x = {"a": np.arange(10)}
    data = ArrayBatches(x, np.arange(10) * 2, batch_size=4, seed=1)
    data.align_to(1)
    epoch0 = np.concatenate([data[k][0]["a"] for k in range(data.batches_per_epoch)])
    epoch1 = np.concatenate([data[k][0]["a"] for k in range(data.batches_per_epoch, 2 * data.batches_per_epoch)])
    assert sorted(epoch0) == list(range(10)) and sorted(epoch1) == list(range(10))
    assert not np.array_equal(epoch0, epoch1)
    xb, yb = data[0]
    np.testing.assert_array_equal(yb, xb["a"] * 2)
    with pytest.raises(ValueError, match="equal lengths"):
        ArrayBatches({"a": np.arange(3)}, np.arange(4))
