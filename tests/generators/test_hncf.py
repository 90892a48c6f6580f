"""HNCF batches: the NCF rows plus each item's cached vectors, or its raw text and poster pixels."""

import numpy as np
import pytest
import tensorflow as tf

from hncf.generators.hncf import CachedFeatureSampler, EndToEndSampler

USERS = np.repeat(np.arange(4), 3)
ITEMS = np.array([0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 8, 9])
N_USERS, N_ITEMS = 4, 12


def test_cached_batches_carry_each_rows_item_vectors():
    rng = np.random.default_rng(0)
    text, poster = rng.normal(size=(N_ITEMS, 5)), rng.normal(size=(N_ITEMS, 3))
    mask = (np.arange(N_ITEMS) % 2).astype(float)
    s = CachedFeatureSampler(USERS, ITEMS, N_USERS, N_ITEMS, text_vectors=text, poster_vectors=poster,
                             poster_mask=mask, n_neg=2, batch_size=7, seed=0)
    for k in range(s.batches_per_epoch):
        x, y = s[k]
        i = x["item_id"]
        np.testing.assert_array_equal(x["text_vector"], text[i].astype(np.float32))
        np.testing.assert_array_equal(x["poster_vector"], poster[i].astype(np.float32))
        np.testing.assert_array_equal(x["poster_mask"][:, 0], mask[i])
        assert x["poster_mask"].shape == (len(i), 1) and len(y) == len(i)


def test_end_to_end_batches_carry_text_as_a_tensor_and_posters_from_the_loader():
    texts = np.array([f"movie {k}" for k in range(N_ITEMS)], dtype=object)
    asked = []

    def load(items):
        asked.append(items.copy())
        return np.full((len(items), 4, 4, 3), 0.5, np.float32), items % 3 != 0

    s = EndToEndSampler(USERS, ITEMS, N_USERS, N_ITEMS, texts, load_posters=load, n_neg=1, batch_size=5, seed=1)
    x, _ = s[0]
    assert isinstance(x["movie_text"], tf.Tensor) and x["movie_text"].dtype == tf.string
    assert [t.decode() for t in x["movie_text"].numpy()] == [f"movie {k}" for k in x["item_id"]]
    np.testing.assert_array_equal(asked[-1], x["item_id"])
    assert x["poster"].shape == (len(x["item_id"]), 4, 4, 3)
    np.testing.assert_array_equal(x["poster_mask"][:, 0], (x["item_id"] % 3 != 0).astype(np.float32))


def test_tables_must_cover_every_item():
    with pytest.raises(ValueError, match="text_vectors has 3 rows but there are 12 items"):
        CachedFeatureSampler(USERS, ITEMS, N_USERS, N_ITEMS, text_vectors=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="poster_mask"):
        CachedFeatureSampler(USERS, ITEMS, N_USERS, N_ITEMS, poster_vectors=np.zeros((N_ITEMS, 2)))
