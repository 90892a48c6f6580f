"""Trainer: model selection on validation, early stopping, checkpoints, resume and determinism."""

import json

import keras
import numpy as np
import pytest

from hncf.generators.ncf import PointwiseNegativeSampler
from hncf.data import sample_test_negatives, user_item_csr
from hncf.evaluation import evaluate_sampled
from hncf.models.ncf import build_neumf
from hncf.training import TrainConfig, ValidationSet, make_score_fn, train_pointwise

N_USERS, N_ITEMS = 40, 50


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    # Two taste groups so there is signal to learn: users prefer items of their parity.
    users = np.repeat(np.arange(N_USERS), 12)
    items = np.concatenate([rng.choice(np.arange(u % 2, N_ITEMS, 2), 12, replace=False) for u in range(N_USERS)])
    val_items = np.array([rng.choice(np.setdiff1d(np.arange(u % 2, N_ITEMS, 2), items[users == u]))
                          for u in range(N_USERS)])
    all_csr = user_item_csr(np.r_[users, np.arange(N_USERS)], np.r_[items, val_items], N_USERS, N_ITEMS)
    negs = sample_test_negatives(all_csr, np.arange(N_USERS), n_neg=20, seed=1)
    return users, items, ValidationSet(np.arange(N_USERS), val_items, negs)


def _run(data, cfg, **kw):
    users, items, val = data
    keras.utils.set_random_seed(cfg.seed)
    model = build_neumf(N_USERS, N_ITEMS, n_factors=4, layers=(8, 4), seed=cfg.seed)
    sampler = PointwiseNegativeSampler(users, items, N_USERS, N_ITEMS, n_neg=cfg.n_neg,
                                       batch_size=cfg.batch_size, seed=cfg.seed)
    return train_pointwise(model, sampler, cfg, val, verbose=0, **kw)


def test_make_score_fn_matches_predict_for_any_length():
    model = build_neumf(N_USERS, N_ITEMS, n_factors=2, layers=(4, 2), seed=0)
    rng = np.random.default_rng(0)
    u, i = rng.integers(0, N_USERS, 37), rng.integers(0, N_ITEMS, 37)
    expected = np.asarray(model.predict_on_batch({"user_id": u.astype("int32"), "item_id": i.astype("int32")}))
    np.testing.assert_allclose(make_score_fn(model, batch_size=8)(u, i), expected, rtol=1e-6)
    assert make_score_fn(model)(np.zeros(0, int), np.zeros(0, int)).shape == (0,)


def test_the_returned_model_is_the_best_validation_epoch(data):
    cfg = TrainConfig(epochs=6, batch_size=64, learning_rate=1e-2, seed=0)
    model, result = _run(data, cfg)
    hist = result.history["val_hr@10"]
    assert len(hist) == result.epochs_run == 6
    assert result.best_epoch == int(np.argmax(hist)) + 1
    _, _, val = data
    again = evaluate_sampled(make_score_fn(model), val.users, val.items, val.negatives, ks=(10,))
    assert again["hr@10"] == pytest.approx(max(hist))
    assert result.examples == 6 * len(data[0]) * 5 and result.examples_per_second > 0


def test_early_stopping_stops_after_patience_without_improvement(data):
    cfg = TrainConfig(epochs=30, batch_size=64, learning_rate=1e-2, patience=2, seed=0)
    _, result = _run(data, cfg)
    assert result.epochs_run < 30
    assert result.epochs_run - result.best_epoch == 2


def test_the_same_seed_gives_the_same_metrics(data):
    cfg = TrainConfig(epochs=3, batch_size=64, learning_rate=1e-2, seed=4)
    _, a = _run(data, cfg)
    _, b = _run(data, cfg)
    assert a.history == b.history


def test_resuming_from_a_checkpoint_equals_an_uninterrupted_run(data, tmp_path):
    cfg = TrainConfig(epochs=4, batch_size=64, learning_rate=1e-2, seed=2)
    straight, straight_result = _run(data, cfg)
    ckpt = tmp_path / "ckpt"
    _run(data, TrainConfig(epochs=2, batch_size=64, learning_rate=1e-2, seed=2), checkpoint_dir=ckpt)
    state = json.loads((ckpt / "state.json").read_text())
    assert state["epoch"] == 2
    assert not [p.name for p in ckpt.iterdir() if "tmp" in p.name]  # atomic writes leave no temp files
    resumed, resumed_result = _run(data, cfg, checkpoint_dir=ckpt, resume=True)
    assert resumed_result.history == straight_result.history
    x = {"user_id": np.arange(N_USERS, dtype="int32"), "item_id": np.arange(N_USERS, dtype="int32") % N_ITEMS}
    np.testing.assert_allclose(np.asarray(resumed.predict_on_batch(x)), np.asarray(straight.predict_on_batch(x)),
                               rtol=1e-6)


def test_resuming_a_model_with_dropout_continues_its_dropout_masks(data, tmp_path):
    # Keras does not restore dropout seed states from a .keras file; the checkpoint must.
    from hncf.models.hncf import HNCFConfig, build_hncf

    users, items, val = data

    def run(epochs, **kw):
        keras.utils.set_random_seed(3)
        model = build_hncf(N_USERS, N_ITEMS, config=HNCFConfig(embedding_dim=4, hidden=(16, 8), dropout=0.5),
                           variant="ncf", seed=3)
        sampler = PointwiseNegativeSampler(users, items, N_USERS, N_ITEMS, batch_size=64, seed=3)
        cfg = TrainConfig(epochs=epochs, batch_size=64, learning_rate=1e-2, seed=3)
        return train_pointwise(model, sampler, cfg, val, verbose=0, **kw)

    _, straight = run(4)
    run(2, checkpoint_dir=tmp_path)
    _, resumed = run(4, checkpoint_dir=tmp_path, resume=True)
    assert resumed.history["loss"] == pytest.approx(straight.history["loss"], rel=1e-6)
    assert resumed.history["val_hr@10"] == straight.history["val_hr@10"]


def test_without_resume_an_old_checkpoint_is_discarded(data, tmp_path):
    cfg = TrainConfig(epochs=1, batch_size=64, seed=0)
    _run(data, cfg, checkpoint_dir=tmp_path)
    _, result = _run(data, cfg, checkpoint_dir=tmp_path, resume=False)
    assert result.epochs_run == 1 and len(result.history["loss"]) == 1


def test_make_score_fn_gathers_item_features():
    from hncf.models.hncf import HNCFConfig, build_hncf

    m = build_hncf(N_USERS, N_ITEMS, text_dim=3, config=HNCFConfig(embedding_dim=2, hidden=(4,)), variant="bert_ncf",
                   seed=0)
    table = np.random.default_rng(0).normal(size=(N_ITEMS, 3)).astype("float32")
    u, i = np.array([0, 5, 7]), np.array([3, 3, 9])
    expected = np.asarray(m.predict_on_batch({"user_id": u.astype("int32"), "item_id": i.astype("int32"),
                                              "text_vector": table[i]}))
    np.testing.assert_allclose(make_score_fn(m, item_features={"text_vector": table})(u, i), expected, rtol=1e-6)
