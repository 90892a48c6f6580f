"""Batches for HNCF: the NCF sampler's (user, item, label) rows plus each item's content.

Both generators reuse :class:`~hncf.generators.ncf.PointwiseNegativeSampler` for the rows (negatives
resampled every epoch, batch ``k`` a pure function of ``k``) and add the item side:

* :class:`CachedFeatureSampler` gathers precomputed per-item vectors (one NumPy take per batch);
* :class:`EndToEndSampler` gives raw movie text (as a ``tf.constant``: Keras rejects NumPy string
  arrays) and poster pixels loaded from disk for the batch, as the paper's pipeline does.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from hncf.generators.ncf import PointwiseNegativeSampler


def _check_table(name: str, table: np.ndarray, n_items: int) -> np.ndarray:
    if len(table) != n_items:
        raise ValueError(f"{name} has {len(table)} rows but there are {n_items} items")
    return table


class CachedFeatureSampler(PointwiseNegativeSampler):
    """Rows with the item's cached ``text_vector``, ``poster_vector`` and ``poster_mask``.

    ``text_vectors`` is ``[n_items, d]``; ``poster_vectors`` ``[n_items, p]``; ``poster_mask``
    ``[n_items]`` (1 = a real poster). Pass only what the model variant takes.
    """

    def __init__(self, users, items, n_users, n_items, text_vectors=None, poster_vectors=None, poster_mask=None,
                 **kwargs):
        super().__init__(users, items, n_users, n_items, **kwargs)
        self.tables = {}
        if text_vectors is not None:
            self.tables["text_vector"] = _check_table("text_vectors", np.asarray(text_vectors, np.float32), n_items)
        if poster_vectors is not None:
            if poster_mask is None:
                raise ValueError("poster_vectors need poster_mask")
            self.tables["poster_vector"] = _check_table("poster_vectors", np.asarray(poster_vectors, np.float32),
                                                        n_items)
            self.tables["poster_mask"] = _check_table("poster_mask", np.asarray(poster_mask, np.float32),
                                                      n_items).reshape(-1, 1)

    def __getitem__(self, index: int):
        x, y = super().__getitem__(index)
        for key, table in self.tables.items():
            x[key] = table[x["item_id"]]
        return x, y


class EndToEndSampler(PointwiseNegativeSampler):
    """Rows with raw ``movie_text`` and, when ``load_posters`` is given, ``poster`` + ``poster_mask``.

    ``texts`` is an array of one string per item index. ``load_posters(item_indices)`` returns
    ``(images, mask)`` for a batch; posters are read per batch because a catalogue's worth of
    224x224 images does not fit in memory on ML-20M.
    """

    def __init__(self, users, items, n_users, n_items, texts, load_posters=None, **kwargs):
        super().__init__(users, items, n_users, n_items, **kwargs)
        self.texts = _check_table("texts", np.asarray(texts, dtype=object), n_items)
        self.load_posters = load_posters

    def __getitem__(self, index: int):
        x, y = super().__getitem__(index)
        x["movie_text"] = tf.constant(self.texts[x["item_id"]].astype(str))
        if self.load_posters is not None:
            images, mask = self.load_posters(x["item_id"])
            x["poster"] = np.asarray(images, np.float32)
            x["poster_mask"] = np.asarray(mask, np.float32).reshape(-1, 1)
        return x, y
