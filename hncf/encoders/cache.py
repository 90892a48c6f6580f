"""On-disk cache of frozen-encoder vectors, keyed by encoder name, item id and content hash.

A frozen encoder is a function of the item alone, so each item's text or poster is encoded once
and the fusion model trains on the stored vectors (DESIGN.md, "Speed"). A vector is reused only
when the encoder name, the item id *and* the sha1 of the item's content all match: edited text, a
new poster or another encoder (different weights, pooling, sequence length) never gets a stale
vector.

Layout: one self-describing ``.npz`` per encoder under ``root`` (file name: a hash of the encoder
name), holding the encoder name, the item ids (as strings), their content hashes and the float32
vectors. Every update writes a temporary file in ``root`` and moves it into place with
:func:`os.replace`, so the file on disk is always a complete earlier or later state; an
interrupted write leaves the previous state and no temporary file. There is deliberately no
separate index file: with one file per encoder, a single ``os.replace`` commits an update, and
there is no second file to get out of step.

Item ids are compared by their string form (``5`` and ``"5"`` are the same item). Each item keeps
one vector per encoder: changed content replaces the old vector rather than adding a version.

Limits: each call reads the encoder's whole file, and each computed batch rewrites it (that is
what makes progress survive an interruption; ``batch_size`` sets how often). Two processes filling
the same encoder at once do not corrupt the file, but the last writer wins and the other's new
vectors are recomputed on a later call.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

__all__ = ["FeatureCache", "CacheError", "content_hash", "content_hashes"]

_FORMAT = 1
_ARRAYS = ("format", "encoder_name", "ids", "hashes", "vectors")


class CacheError(RuntimeError):
    """A cache file is unreadable, incomplete or belongs to another encoder."""


def content_hash(content: str | bytes | bytearray | memoryview) -> str:
    """sha1 hex digest of a text (UTF-8 encoded) or of raw bytes (e.g. an image file's bytes)."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    elif not isinstance(content, (bytes, bytearray, memoryview)):
        raise TypeError(f"content_hash takes str or bytes, got {type(content).__name__}")
    return hashlib.sha1(content).hexdigest()


def content_hashes(contents) -> np.ndarray:
    """:func:`content_hash` of each element, as an array of 40-character hex strings."""
    return np.array([content_hash(c) for c in contents], dtype="U40").reshape(-1)


def _file_stem(encoder_name: str) -> str:
    # Encoder names hold ':', '/', '|' (URLs, paths): hash them into a safe, fixed-length file name.
    return hashlib.sha1(encoder_name.encode("utf-8")).hexdigest()[:20]


class FeatureCache:
    """Vectors of frozen encoders under ``root``; see the module docstring for the guarantees.

    ``on_corrupt="error"`` (default) raises :class:`CacheError` naming the file when a cache file
    cannot be read; ``"rebuild"`` warns, ignores the bad file and replaces it on the next write.
    """

    def __init__(self, root: str | os.PathLike, on_corrupt: str = "error"):
        if on_corrupt not in ("error", "rebuild"):
            raise ValueError(f"on_corrupt must be 'error' or 'rebuild', got {on_corrupt!r}")
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        self.on_corrupt = on_corrupt
        self._counters = {"requested": 0, "hits": 0, "computed": 0, "compute_calls": 0}

    def path(self, encoder_name: str) -> Path:
        """The file holding ``encoder_name``'s vectors (it may not exist yet)."""
        return self.root / f"{_file_stem(encoder_name)}.npz"

    def _empty(self, encoder_name: str) -> dict:
        return {"encoder_name": encoder_name, "ids": np.empty(0, dtype=str),
                "hashes": np.empty(0, dtype="U40"), "vectors": None}

    def _load(self, encoder_name: str) -> dict:
        path = self.path(encoder_name)
        if not path.exists():
            return self._empty(encoder_name)
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in _ARRAYS if k not in z.files]
                if missing:
                    raise CacheError(f"cache file {path} lacks array(s) {missing}")
                fmt = int(z["format"])
                name = str(z["encoder_name"])
                ids, hashes, vectors = z["ids"], z["hashes"], z["vectors"]
        except CacheError as e:
            return self._bad(encoder_name, path, str(e))
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
            return self._bad(encoder_name, path, f"cannot read cache file {path}: {type(e).__name__}: {e}")
        if fmt != _FORMAT:
            return self._bad(encoder_name, path, f"cache file {path} has format {fmt}, expected {_FORMAT}")
        if name != encoder_name:
            # Only a sha1-prefix collision or a hand-copied file can get here.
            return self._bad(encoder_name, path, f"cache file {path} holds encoder {name!r}, not {encoder_name!r}")
        if not (ids.ndim == 1 and hashes.shape == ids.shape and vectors.ndim == 2
                and vectors.shape[0] == len(ids) and vectors.dtype == np.float32):
            return self._bad(
                encoder_name, path,
                f"cache file {path} is inconsistent: ids {ids.shape}, hashes {hashes.shape}, "
                f"vectors {vectors.shape} {vectors.dtype}",
            )
        return {"encoder_name": name, "ids": ids, "hashes": hashes, "vectors": vectors}

    def _bad(self, encoder_name: str, path: Path, message: str) -> dict:
        if self.on_corrupt == "error":
            raise CacheError(
                f"{message}. Delete the file to rebuild it, or open the cache with on_corrupt='rebuild'."
            )
        warnings.warn(f"{message}; ignoring it, it will be rebuilt", stacklevel=4)
        return self._empty(encoder_name)

    def _save(self, state: dict) -> None:
        path = self.path(state["encoder_name"])
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=f".{path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f, format=np.int64(_FORMAT), encoder_name=np.str_(state["encoder_name"]),
                    ids=state["ids"], hashes=state["hashes"], vectors=state["vectors"],
                )
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            # BaseException: a Ctrl-C mid-write must not leave the temporary file behind either.
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def get_or_compute(self, encoder_name: str, ids, content_hashes, compute_fn: Callable[[np.ndarray], np.ndarray],
                       batch_size: int = 1024, progress: bool = True) -> np.ndarray:
        """Vectors ``[n, dim]`` for ``ids``, computing only items missing or changed since cached.

        ``content_hashes[k]`` is the hash of item ``ids[k]``'s content (see :func:`content_hash`).
        ``compute_fn(positions)`` receives an int array of positions into ``ids`` (at most
        ``batch_size`` of them) and returns their vectors ``[len(positions), dim]``. The cache
        file is updated after every such batch, so an interrupted run keeps what it computed.
        An id repeated with the same hash is computed once; with different hashes it raises.
        Raises :class:`CacheError` for an unreadable cache file (see ``on_corrupt``) and
        ``ValueError`` for vectors of the wrong shape or width, or non-finite ones (nothing of
        such a batch is stored).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        ids = np.asarray(ids).reshape(-1).astype(str)
        hashes = np.asarray(content_hashes).reshape(-1).astype(str)
        if len(ids) != len(hashes):
            raise ValueError(f"got {len(ids)} ids but {len(hashes)} content hashes")
        n = len(ids)
        self._counters["requested"] += n

        frame = pd.DataFrame({"id": ids, "hash": hashes})
        first = ~frame["id"].duplicated().to_numpy()
        conflicting = frame.groupby("id", sort=False)["hash"].nunique()
        if (conflicting > 1).any():
            bad = conflicting.index[(conflicting > 1).to_numpy()][0]
            raise ValueError(f"item id {str(bad)!r} appears with different content hashes in one request")
        uniq_pos = np.flatnonzero(first)  # positions of each id's first occurrence
        uniq_ids = ids[uniq_pos]
        # For every request position, which unique id it repeats.
        inverse = pd.Index(uniq_ids).get_indexer(ids)

        state = self._load(encoder_name)
        stored = pd.Index(state["ids"])
        if not stored.is_unique:
            state = self._bad(encoder_name, self.path(encoder_name), f"cache file {self.path(encoder_name)} repeats item ids")
            stored = pd.Index(state["ids"])
        slot = stored.get_indexer(uniq_ids)  # -1 where the id is not cached
        hit = slot >= 0
        hit[hit] = state["hashes"][slot[hit]] == hashes[uniq_pos[hit]]
        todo = np.flatnonzero(~hit)  # indices into the unique ids
        self._counters["hits"] += int(hit.sum())

        dim = None if state["vectors"] is None else state["vectors"].shape[1]
        result = None
        if dim is not None:
            result = np.empty((len(uniq_ids), dim), dtype=np.float32)
            result[hit] = state["vectors"][slot[hit]]

        with tqdm(total=len(todo), unit="item", desc=f"computing ({encoder_name})",
                  disable=not progress or len(todo) == 0) as bar:
            for start in range(0, len(todo), batch_size):
                chunk = todo[start:start + batch_size]
                positions = uniq_pos[chunk]
                vectors = np.asarray(compute_fn(positions.copy()))
                self._counters["compute_calls"] += 1
                vectors = self._check_vectors(encoder_name, vectors, len(chunk), dim, uniq_ids[chunk])
                if dim is None:
                    dim = vectors.shape[1]
                    result = np.empty((len(uniq_ids), dim), dtype=np.float32)
                    state["vectors"] = np.empty((0, dim), dtype=np.float32)
                result[chunk] = vectors
                state = self._merge(state, uniq_ids[chunk], hashes[positions], vectors)
                self._save(state)
                self._counters["computed"] += len(chunk)
                bar.update(len(chunk))

        if result is None:  # nothing requested and nothing cached yet
            return np.empty((0, 0), dtype=np.float32)
        return result[inverse]

    @staticmethod
    def _check_vectors(encoder_name: str, vectors: np.ndarray, count: int, dim: int | None,
                       chunk_ids: np.ndarray) -> np.ndarray:
        if vectors.ndim != 2 or vectors.shape[0] != count:
            raise ValueError(
                f"compute_fn for {encoder_name!r} returned shape {vectors.shape} for {count} item(s); "
                f"expected [{count}, dim]"
            )
        if dim is not None and vectors.shape[1] != dim:
            raise ValueError(
                f"compute_fn for {encoder_name!r} returned vectors of width {vectors.shape[1]}, "
                f"but the cache holds width {dim} for this encoder"
            )
        vectors = vectors.astype(np.float32, copy=False)
        finite = np.isfinite(vectors).all(axis=1)
        if not finite.all():
            k = int(np.flatnonzero(~finite)[0])
            raise ValueError(
                f"compute_fn for {encoder_name!r} returned a non-finite vector for item id {str(chunk_ids[k])!r}"
            )
        return vectors

    @staticmethod
    def _merge(state: dict, new_ids: np.ndarray, new_hashes: np.ndarray, new_vectors: np.ndarray) -> dict:
        """Overwrite the rows of ids already stored (their content changed), append the rest."""
        stored = pd.Index(state["ids"])
        slot = stored.get_indexer(new_ids)
        old = slot >= 0
        hashes = state["hashes"].astype(np.result_type(state["hashes"], new_hashes))
        ids = state["ids"].astype(np.result_type(state["ids"], new_ids))
        vectors = state["vectors"].copy()
        hashes[slot[old]] = new_hashes[old]
        vectors[slot[old]] = new_vectors[old]
        return {
            "encoder_name": state["encoder_name"],
            "ids": np.concatenate([ids, new_ids[~old]]),
            "hashes": np.concatenate([hashes, new_hashes[~old]]),
            "vectors": np.concatenate([vectors, new_vectors[~old]]),
        }

    def stats(self) -> dict:
        """What is on disk per encoder (items, dim, bytes, file) and this object's counters.

        Counters: ``requested`` items, cache ``hits`` (unique ids), items ``computed`` and
        ``compute_calls`` made, since this ``FeatureCache`` was created. Only array headers are
        read, so this stays cheap for large caches.
        """
        encoders = {}
        for path in sorted(self.root.glob("*.npz")):
            try:
                with np.load(path, allow_pickle=False) as z:
                    name = str(z["encoder_name"])
                shape = _npz_array_shape(path, "vectors")
            except Exception as e:  # stats must describe a damaged cache, not fail on it
                encoders[f"<unreadable {path.name}>"] = {"file": str(path), "error": f"{type(e).__name__}: {e}"}
                continue
            encoders[name] = {"items": int(shape[0]), "dim": int(shape[1]), "bytes": path.stat().st_size,
                              "file": str(path)}
        return {"root": str(self.root), "encoders": encoders, **self._counters}


def _npz_array_shape(path: Path, name: str) -> tuple:
    """Shape of one array in an .npz from its .npy header, without reading the data."""
    with zipfile.ZipFile(path) as zf, zf.open(f"{name}.npy") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, _ = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, _ = np.lib.format.read_array_header_2_0(f)
    return shape
