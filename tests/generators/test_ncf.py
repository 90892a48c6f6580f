"""Per-epoch negative sampling generator."""

import keras
import numpy as np
import pytest

from hncf.generators.ncf import PointwiseNegativeSampler
from hncf.data import user_item_csr
from hncf.models.ncf import build_gmf


def _positives(n_users=6, n_items=15, per_user=4, seed=0):
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    return users, items, n_users, n_items


def _all_rows(sampler, epoch=0):
    n = sampler.batches_per_epoch
    xs = [sampler[i] for i in range(epoch * n, (epoch + 1) * n)]
    return (np.concatenate([x["user_id"] for x, _ in xs]), np.concatenate([x["item_id"] for x, _ in xs]),
            np.concatenate([y for _, y in xs]))


def test_an_epoch_has_every_positive_once_and_n_neg_true_negatives_each():
    users, items, nu, ni = _positives()
    s = PointwiseNegativeSampler(users, items, nu, ni, n_neg=3, batch_size=7, seed=1)
    u, i, y = _all_rows(s)
    assert len(u) == s.rows_per_epoch == len(users) * 4
    assert s.batches_per_epoch == int(np.ceil(len(u) / 7))  # last partial batch kept
    pos = sorted(zip(u[y == 1], i[y == 1]))
    assert pos == sorted(zip(users, items))
    csr = user_item_csr(users, items, nu, ni)
    assert not np.asarray(csr[u[y == 0], i[y == 0]]).any()
    np.testing.assert_array_equal(np.bincount(u[y == 0], minlength=nu), 3 * np.bincount(users, minlength=nu))


def test_negatives_are_resampled_each_epoch_and_reproducible_by_epoch():
    users, items, nu, ni = _positives()
    s = PointwiseNegativeSampler(users, items, nu, ni, n_neg=4, batch_size=16, seed=5)
    e0 = _all_rows(s)
    e1 = _all_rows(s, epoch=1)
    assert not all(np.array_equal(a, b) for a, b in zip(e0, e1))
    t = PointwiseNegativeSampler(users, items, nu, ni, n_neg=4, batch_size=16, seed=5)
    t.set_epoch(1)  # a resumed run jumps straight to epoch 1
    for a, b in zip(_all_rows(t), e1):
        np.testing.assert_array_equal(a, b)
    # Batch k does not depend on which batches were asked for before it.
    late = s[s.batches_per_epoch + 1]
    rows, n = s.rows_per_epoch, s.batches_per_epoch
    np.testing.assert_array_equal(late[0]["item_id"], e1[1][rows // n:2 * rows // n])


def test_exclude_keeps_extra_items_out_of_the_negatives():
    users, items, nu, ni = _positives()
    extra = user_item_csr(np.r_[users, np.arange(nu)], np.r_[items, np.full(nu, 0)], nu, ni)
    s = PointwiseNegativeSampler(users, items, nu, ni, n_neg=4, batch_size=64, seed=0, exclude=extra)
    u, i, y = _all_rows(s)
    assert not (i[y == 0] == 0).any()


def test_fit_feeds_a_new_epoch_of_negatives_each_epoch():
    users, items, nu, ni = _positives()
    s = PointwiseNegativeSampler(users, items, nu, ni, n_neg=2, batch_size=8, seed=0)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)

    m = build_gmf(nu, ni, n_factors=2)
    m.compile(optimizer="adam", loss="binary_crossentropy")
    hist = m.fit(s, epochs=3, steps_per_epoch=s.batches_per_epoch, shuffle=False, verbose=0, callbacks=[Record()])
    assert len(hist.history["loss"]) == 3
    assert len(seen) == 3 * s.batches_per_epoch


def test_aligned_epochs_are_whole_executions_of_balanced_batches():
    users, items, nu, ni = _positives()
    s = PointwiseNegativeSampler(users, items, nu, ni, n_neg=4, batch_size=7, seed=0)  # 120 rows
    assert s.align_to(4) == 4
    assert s.batches_per_epoch == 20  # ceil(120 / 7) = 18 -> 20, a multiple of 4
    sizes = [len(s[i][1]) for i in range(20)]
    assert sum(sizes) == 120 and max(sizes) <= 7 and min(sizes) >= 5
    u, i, y = _all_rows(s)
    assert sorted(zip(u[y == 1], i[y == 1])) == sorted(zip(users, items))
    assert s.align_to(1000) == 18  # never more steps per call than an epoch has


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="equal length"):
        PointwiseNegativeSampler([0, 1], [0], 2, 3)
    with pytest.raises(ValueError, match="no training positives"):
        PointwiseNegativeSampler([], [], 2, 3)
    s = PointwiseNegativeSampler([0], [0], 1, 3, batch_size=4)
    with pytest.raises(IndexError):
        s[-1]
