"""The rating stage: selection by validation RMSE, refit on all training ratings, exact resume."""

from __future__ import annotations

import numpy as np
import pytest

from hncf.evaluation.metrics import mae, rmse
from hncf.models.rating import build_biased_mf, build_ncf_rating, predict_scores, unscale_ratings
from hncf.pipeline.rating import RatingRows, RatingValidation, fit_rating_model, rating_batches
from hncf.training import TrainConfig

N_USERS, N_ITEMS, LO, HI = 30, 25, 1.0, 5.0


@pytest.fixture(scope="module")
def ratings():
    rng = np.random.default_rng(0)
    U, V = rng.normal(size=(N_USERS, 3)), rng.normal(size=(N_ITEMS, 3))
    users, items = rng.integers(0, N_USERS, 900), rng.integers(0, N_ITEMS, 900)
    r = np.clip(np.round(3 + (U[users] * V[items]).sum(1)), LO, HI)
    cut = 750
    return (RatingRows(users[:cut], items[:cut], r[:cut]), RatingRows(users[cut:], items[cut:], r[cut:]))


def _ncf():
    return build_ncf_rating(N_USERS, N_ITEMS, n_factors=4, layers=(8, 4), seed=0)


def _cfg(**kw):
    return TrainConfig(**{"epochs": 6, "batch_size": 64, "learning_rate": 1e-2, "seed": 1, **kw})


def _val_rmse(model, rows):
    return rmse(rows.ratings, unscale_ratings(predict_scores(model, rows.users, rows.items), LO, HI))


def test_rating_validation_reports_rmse_and_mae_in_stars(ratings):
    _, val = ratings
    model = _ncf()
    pred = unscale_ratings(predict_scores(model, val.users, val.items), LO, HI)
    v = RatingValidation(val, LO, HI)
    assert (v.monitor, v.mode) == ("val_rmse", "min")
    got = v.evaluate(model)
    assert got["val_rmse"] == pytest.approx(rmse(val.ratings, pred))
    assert got["val_mae"] == pytest.approx(mae(val.ratings, pred))


def test_rating_batches_feed_every_row_once_per_epoch_with_scaled_targets(ratings):
    fit, _ = ratings
    data = rating_batches(fit, LO, HI, batch_size=100, seed=3)
    data.align_to(1)
    xs, ys = zip(*(data[k] for k in range(data.batches_per_epoch)))
    users = np.concatenate([x["user_id"] for x in xs])
    y = np.concatenate(ys)
    assert len(users) == len(fit) and y.min() >= -1 and y.max() <= 1
    order = np.lexsort((fit.items, fit.users))
    got = np.lexsort((np.concatenate([x["item_id"] for x in xs]), users))
    np.testing.assert_array_equal(users[got], fit.users[order])
    # The same (seed, epoch) gives the same batch: what makes a resumed run see the same data.
    again = rating_batches(fit, LO, HI, batch_size=100, seed=3)
    again.align_to(1)
    np.testing.assert_array_equal(again[1][0]["user_id"], data[1][0]["user_id"])


def test_the_kept_model_is_the_epoch_with_the_lowest_validation_rmse(ratings):
    fit, val = ratings
    model, record = fit_rating_model(_ncf, fit, val, _cfg(), LO, HI, refit=False)
    hist = record["history"]["val_rmse"]
    assert len(hist) == record["epochs"] == 6 and not record["refit"]
    assert record["best_epoch"] == int(np.argmin(hist)) + 1
    assert record["best_val_rmse"] == pytest.approx(min(hist))
    # The returned weights are those of the best epoch, not the last one.
    assert _val_rmse(model, val) == pytest.approx(min(hist), rel=1e-5)
    assert record["history"]["loss"][-1] < record["history"]["loss"][0]


def test_early_stopping_counts_epochs_without_a_lower_rmse(ratings):
    fit, val = ratings
    _, record = fit_rating_model(_ncf, fit, val, _cfg(epochs=40, learning_rate=5e-2, patience=2), LO, HI,
                                 refit=False)
    assert record["epochs"] < 40 and record["epochs"] - record["best_epoch"] == 2


def test_refit_trains_on_fit_and_validation_rows_for_the_selected_epochs(ratings):
    fit, val = ratings
    model, record = fit_rating_model(_ncf, fit, val, _cfg(), LO, HI, refit=True)
    assert record["refit"] and record["n_final"] == len(fit) + len(val) and record["rows_per_epoch"] == 900
    # The same as training on all training ratings, unvalidated, for the selected number of epochs.
    direct, plain = fit_rating_model(_ncf, RatingRows.concat(fit, val), None, _cfg(epochs=record["best_epoch"]),
                                     LO, HI)
    assert plain["epochs"] == record["best_epoch"] and plain["best_epoch"] is None
    for a, b in zip(model.get_weights(), direct.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_an_interrupted_run_resumes_to_the_same_model(ratings, tmp_path):
    fit, val = ratings
    make = lambda: build_biased_mf(N_USERS, N_ITEMS, n_factors=4, seed=0)  # noqa: E731
    straight, s_rec = fit_rating_model(make, fit, val, _cfg(epochs=5), LO, HI, refit=True)
    fit_rating_model(make, fit, val, _cfg(epochs=2), LO, HI, refit=True, checkpoint_dir=tmp_path)
    resumed, r_rec = fit_rating_model(make, fit, val, _cfg(epochs=5), LO, HI, refit=True, checkpoint_dir=tmp_path,
                                      resume=True)
    assert r_rec["resumed"] and r_rec["best_epoch"] == s_rec["best_epoch"]
    np.testing.assert_allclose(r_rec["history"]["val_rmse"], s_rec["history"]["val_rmse"], rtol=1e-5)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_rating_rows_refuse_unequal_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        RatingRows(np.arange(3), np.arange(3), np.arange(2))
