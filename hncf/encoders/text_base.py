"""What every text encoder shares: input checks, the ``TextEncoder`` interface and batched encoding.

A text encoder has a stable ``name`` (the feature-cache key), ``dim`` and
``encode(texts) -> float32 [n, dim]``. ``encode`` validates its input (:func:`check_texts`), sorts
texts by length and pads each batch only to its longest text (padding is masked, so vectors do not
depend on the batch); on short item texts this is about ten times faster than padding every text
to ``sequence_length``. :func:`directory_hash` names a local checkpoint by its content, so vectors
cached for one set of weights are never reused for another that lives in the same folder.
"""

from __future__ import annotations

import abc
import hashlib
import os
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm.auto import tqdm

__all__ = ["TextEncoder", "check_texts", "directory_hash", "encode_in_batches"]

_HASH_CHUNK = 1 << 20


def check_texts(texts, ids=None) -> np.ndarray:
    """Validate a batch of item texts and return them as a 1-D object array of ``str``.

    Raises ``ValueError`` naming the first bad position (and its item id when ``ids`` is given)
    for a missing (None/NaN), non-string, empty or whitespace-only text.
    """
    arr = np.asarray(texts, dtype=object)
    if arr.ndim == 0:
        raise ValueError("texts must be a sequence of strings, got a single value")
    if arr.ndim != 1:
        raise ValueError(f"texts must be one-dimensional, got shape {arr.shape}")
    if ids is not None:
        ids = np.asarray(ids)
        if len(ids) != len(arr):
            raise ValueError(f"got {len(arr)} texts but {len(ids)} ids")

    def where(i: int) -> str:
        if ids is None:
            return f"text at index {i}"
        item = ids[i].item() if isinstance(ids[i], np.generic) else ids[i]  # plain repr: 'm3', not np.str_('m3')
        return f"text at index {i} (item id {item!r})"

    if len(arr) == 0:
        return arr
    missing = pd.isna(arr)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise ValueError(f"{where(i)} is missing (None/NaN); {int(missing.sum())} missing in all")
    if pd.api.types.infer_dtype(arr, skipna=False) != "string":
        # Only on the error path: find the first non-string to name it.
        is_str = np.frompyfunc(lambda t: isinstance(t, str), 1, 1)(arr).astype(bool)
        i = int(np.flatnonzero(~is_str)[0])
        raise ValueError(f"{where(i)} is a {type(arr[i]).__name__}, not a str: {arr[i]!r}")
    blank = (pd.Series(arr, dtype=object).str.strip().str.len() == 0).to_numpy()
    if blank.any():
        i = int(np.flatnonzero(blank)[0])
        raise ValueError(
            f"{where(i)} is empty or whitespace-only; {int(blank.sum())} such text(s) in all"
        )
    return arr


def directory_hash(path: str | os.PathLike) -> str:
    """sha1 over the relative paths and bytes of every non-hidden file under ``path``.

    Used in encoder names so that vectors cached for one checkpoint are never reused for a
    different one that happens to live in the same folder.
    """
    root = Path(path)
    h = hashlib.sha1()
    files = sorted(
        p for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    for p in files:
        h.update(p.relative_to(root).as_posix().encode("utf-8") + b"\0")
        with open(p, "rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


class TextEncoder(abc.ABC):
    """A text encoder: ``name`` (cache key), ``dim`` and ``encode(texts) -> float32 [n, dim]``."""

    def __init__(self, name: str, dim: int, pooling: str, sequence_length: int, normalize: bool):
        self.name = name
        self.dim = int(dim)
        self.pooling = pooling
        self.sequence_length = int(sequence_length)
        self.normalize = bool(normalize)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"

    @abc.abstractmethod
    def _encode_batch(self, texts: tf.Tensor) -> np.ndarray:
        """Vectors for one batch of strings (a 1-D ``tf.string`` tensor)."""

    @abc.abstractmethod
    def as_layer(self, trainable: bool | None = None) -> keras.layers.Layer:
        """A Keras layer computing the same vectors inside a model (raw strings in)."""

    def encode(self, texts, batch_size: int = 32, progress: bool = True, ids=None) -> np.ndarray:
        """Encode ``texts`` into a float32 array ``[n, dim]``, in batches, in input order.

        Texts are batched longest first, so each batch holds texts of similar length and pads
        little. Empty or whitespace-only texts raise ``ValueError`` naming the index (and the
        item id when ``ids`` is given).
        """
        return encode_in_batches(self._encode_batch, texts, self.dim, batch_size=batch_size, progress=progress,
                                 ids=ids, desc=f"encoding ({self.name})")


def encode_in_batches(encode_batch, texts, dim: int, batch_size: int = 32, progress: bool = True, ids=None,
                      desc: str = "encoding texts") -> np.ndarray:
    """Run ``encode_batch`` (a 1-D ``tf.string`` tensor -> ``[b, dim]``) over ``texts``, longest first.

    Returns float32 ``[n, dim]`` in input order; empty texts raise ``ValueError`` naming the index
    (and the item id when ``ids`` is given).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    arr = check_texts(texts, ids)
    n = len(arr)
    out = np.empty((n, int(dim)), dtype=np.float32)
    if n == 0:
        return out
    lengths = pd.Series(arr, dtype=object).str.len().to_numpy()
    order = np.argsort(-lengths, kind="stable")
    with tqdm(total=n, unit="text", desc=desc, disable=not progress) as bar:
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            out[idx] = np.asarray(encode_batch(tf.constant(arr[idx].tolist(), dtype=tf.string)), dtype=np.float32)
            bar.update(len(idx))
    return out
