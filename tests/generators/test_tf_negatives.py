"""The tf.data negative sampler: exact negatives, uniform over unrated items, pure in (seed, epoch)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from hncf.generators.tf_negatives import (
    TFNegativeSampler,
    nth_unrated_item,
    scaled_learning_rate,
    unrated_item_table,
)


def _positives(seed=0, n_users=40, n_items=25, n=400):
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_users, n), rng.integers(0, n_items, n), n_users, n_items


def _batches(sampler, n):
    out = []
    for x, y in sampler.dataset().take(n):
        out.append((x["user_id"].numpy(), x["item_id"].numpy(), y.numpy()))
    return out


def test_nth_unrated_item_enumerates_exactly_the_unrated_items():
    users, items, nu, ni = _positives()
    adjusted, indptr, n_free = unrated_item_table(users, items, nu, ni)
    rated = np.zeros((nu, ni), bool)
    rated[users, items] = True
    np.testing.assert_array_equal(n_free, ni - rated.sum(1))
    u = np.repeat(np.arange(nu), n_free)
    r = np.concatenate([np.arange(f) for f in n_free])
    got = nth_unrated_item(tf.constant(adjusted), tf.constant(indptr), ni, u, r).numpy()
    expected = np.concatenate([np.flatnonzero(~rated[k]) for k in range(nu)])
    np.testing.assert_array_equal(got, expected)


def test_batches_hold_each_positive_then_its_true_negatives():
    users, items, nu, ni = _positives()
    s = TFNegativeSampler(users, items, nu, ni, n_neg=4, batch_size=52, seed=1)
    assert s.batch_size == 50 and s.positives_per_batch == 10
    rated = np.zeros((nu, ni), bool)
    rated[users, items] = True
    seen = np.zeros(len(users), int)
    pairs = {(a, b): k for k, (a, b) in enumerate(zip(users, items))}
    for u, i, y in _batches(s, s.batches_per_epoch):
        assert u.shape == (50,)
        np.testing.assert_array_equal(y, np.tile([1, 0, 0, 0, 0], 10))
        np.testing.assert_array_equal(rated[u, i], y == 1)  # negatives are never rated items
        np.testing.assert_array_equal(u.reshape(10, 5), np.repeat(u[::5, None], 5, 1))
        for a, b in zip(u[::5], i[::5]):
            seen[pairs[(a, b)]] += 1
    # Every distinct positive appears in the epoch (duplicates map to one key here).
    assert all(seen[k] >= 1 for k in set(pairs.values()))
    assert s.rows_per_epoch == s.batches_per_epoch * 50


def test_negatives_are_uniform_over_unrated_items():
    users = np.array([0, 0, 0])
    items = np.array([1, 4, 5])
    s = TFNegativeSampler(users, items, 1, 8, n_neg=8, batch_size=9 * 3, seed=0)
    counts = np.zeros(8)
    for u, i, y in _batches(s, 400):
        np.add.at(counts, i[y == 0], 1)
    assert counts[[1, 4, 5]].sum() == 0
    free = counts[[0, 2, 3, 6, 7]]
    expected = free.sum() / 5
    chi2 = ((free - expected) ** 2 / expected).sum()
    assert chi2 < 18.5  # chi-square, 4 degrees of freedom, p = 0.001


def test_same_seed_same_batches_and_resume_at_an_epoch_is_exact():
    users, items, nu, ni = _positives(2)
    a = TFNegativeSampler(users, items, nu, ni, n_neg=2, batch_size=30, seed=5)
    n = a.batches_per_epoch
    run = _batches(a, 3 * n)
    b = TFNegativeSampler(users, items, nu, ni, n_neg=2, batch_size=30, seed=5)
    b.set_epoch(2)
    resumed = _batches(b, n)
    for x, y in zip(run[2 * n:], resumed):
        for p, q in zip(x, y):
            np.testing.assert_array_equal(p, q)
    assert not np.array_equal(run[0][1], run[n][1])  # epochs differ
    other = _batches(TFNegativeSampler(users, items, nu, ni, n_neg=2, batch_size=30, seed=6), 1)
    assert not np.array_equal(run[0][1], other[0][1])


def test_align_to_rounds_epochs_up_to_whole_calls():
    users, items, nu, ni = _positives()
    s = TFNegativeSampler(users, items, nu, ni, n_neg=4, batch_size=50)
    plain = s.batches_per_epoch
    assert s.align_to(8) == 8 and s.batches_per_epoch % 8 == 0 and s.batches_per_epoch >= plain


def test_replica_slices_concatenate_to_the_global_batch():
    users, items, nu, ni = _positives(3)
    s = TFNegativeSampler(users, items, nu, ni, n_neg=3, batch_size=48, seed=2)
    glob = _batches(s, 2)
    parts = [(x["user_id"].numpy(), x["item_id"].numpy(), y.numpy())
             for x, y in s.dataset(n_slices=2, slices=[0, 1]).take(4)]
    for k in range(2):
        for c in range(3):
            np.testing.assert_array_equal(np.concatenate([parts[2 * k][c], parts[2 * k + 1][c]]), glob[k][c])
    with pytest.raises(ValueError, match="do not split into 5"):
        s.dataset(n_slices=5, slices=[0])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="item index 9 out of range"):
        TFNegativeSampler([0], [9], 1, 5)
    with pytest.raises(ValueError, match="has rated all 2 items"):
        TFNegativeSampler([0, 0], [0, 1], 1, 2)
    with pytest.raises(ValueError, match="holds no positive"):
        TFNegativeSampler([0], [0], 1, 5, n_neg=4, batch_size=3)


def test_linear_learning_rate_scaling():
    assert scaled_learning_rate(1e-3, 256, 1 << 16) == pytest.approx(0.256)
    with pytest.raises(ValueError):
        scaled_learning_rate(0.0, 256, 512)


def test_the_trainer_fits_on_the_pipeline_and_resumes_exactly(tmp_path):
    import keras

    from hncf.distribute import PointwiseBinaryCrossentropy
    from hncf.models.ncf import build_mf
    from hncf.training import TrainConfig, train

    users, items, nu, ni = _positives(4)

    def run(epochs, resume):
        keras.utils.set_random_seed(0)
        model = build_mf(nu, ni, n_factors=4, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss=PointwiseBinaryCrossentropy())
        sampler = TFNegativeSampler(users, items, nu, ni, n_neg=4, batch_size=100, seed=1)
        config = TrainConfig(epochs=epochs, batch_size=100, learning_rate=0.01, steps_per_execution=2)
        return train(model, sampler, config, checkpoint_dir=tmp_path / ("b" if resume is not None else "a"),
                     resume=bool(resume), verbose=0)

    full, res_full = run(2, None)
    run(1, False)
    resumed, res = run(2, True)
    assert res.resumed and res.epochs_run == 2
    np.testing.assert_allclose(res.history["loss"], res_full.history["loss"], rtol=1e-6)
    for a, b in zip(full.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
