"""A trained row you can load and ask: the model, its id maps, the item tables and what each user has seen.

``reproduce`` saves one bundle per trained row (``<out>/bundles/<protocol>/<row>/``);
:func:`load_bundle` (also ``hncf.load``) gives back a :class:`UserItemRecommender`.

A bundle folder holds:

* ``model.keras``: the trained Keras model (reloads with ``safe_mode=True``);
* ``ids.json``: the user and item id maps (raw ids in index order);
* ``item_tables.npz``: per-item input tables the model takes besides the ids (cached text and
  poster vectors), so a loaded model scores exactly as it did in evaluation;
* ``seen.npz``: each user's training items (CSR), never recommended back to them;
* ``items.csv``: item id, title and genres when the dataset has them;
* ``meta.json``: system, row, dataset, protocol, seed and the hncf version that wrote it.

Every file is written to a temporary folder first and the folder renamed into place, so an
interrupted save never leaves a half-written bundle.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from hncf.data.schema import IdMap

BUNDLE_FILES = ("model.keras", "ids.json", "item_tables.npz", "seen.npz", "meta.json")


def save_bundle(path, model, users: IdMap, items: IdMap, seen, item_tables: dict | None = None,
                item_info: pd.DataFrame | None = None, meta: dict | None = None) -> Path:
    """Write a bundle folder at ``path`` (replacing an older one atomically); returns the path.

    ``seen`` is a user x item CSR of training interactions; ``item_info`` a frame with column
    ``item`` (raw ids) and any of ``title``, ``genres``.
    """
    import hncf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        model.save(tmp / "model.keras")
        (tmp / "ids.json").write_text(json.dumps({"users": users.to_dict(), "items": items.to_dict()}))
        np.savez(tmp / "item_tables.npz", **{k: np.asarray(v) for k, v in (item_tables or {}).items()})
        sp.save_npz(tmp / "seen.npz", sp.csr_matrix(seen))
        if item_info is not None:
            info = item_info[item_info["item"].isin(items.raw)]
            info.to_csv(tmp / "items.csv", index=False)
        (tmp / "meta.json").write_text(json.dumps({**(meta or {}), "hncf_version": hncf.__version__}, indent=1))
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


class UserItemRecommender:
    """Top-k for a known user from a trained user x item model (NCF family, HNCF, BERT-RS rows)."""

    def __init__(self, model, users: IdMap, items: IdMap, seen, item_tables: dict | None = None,
                 item_info: pd.DataFrame | None = None, meta: dict | None = None):
        from hncf.training import make_score_fn

        self.model, self.users, self.items = model, users, items
        self.seen = sp.csr_matrix(seen)
        self.item_tables = dict(item_tables or {})
        self.item_info = item_info
        self.meta = dict(meta or {})
        self._score = make_score_fn(model, item_features=self.item_tables)

    def score(self, user_ids, item_ids) -> np.ndarray:
        """Scores of (user, item) pairs given by raw ids (unknown ids raise ``KeyError`` naming them)."""
        return self._score(self.users.encode(user_ids), self.items.encode(item_ids))

    def recommend_for_user(self, user_id, k: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """The ``k`` best items for ``user_id`` (a raw id), never one they rated in training.

        Returns a frame with ``item``, ``score`` (and ``title``, ``genres`` when known), best first;
        ties go to the lower item index.
        """
        from hncf.evaluation import top_k_items

        u = self.users.encode([user_id])
        top = top_k_items(self._score, u, len(self.items), k, exclude_csr=self.seen if exclude_seen else None)
        keep = top.items[0] >= 0
        out = pd.DataFrame({"item": self.items.decode(top.items[0][keep]), "score": top.scores[0][keep]})
        if self.item_info is not None:
            out = out.merge(self.item_info, on="item", how="left")
        return out


def load_bundle(path) -> UserItemRecommender:
    """Load a bundle folder written by :func:`save_bundle` (errors name the missing or corrupt file)."""
    import keras

    path = Path(path)
    missing = [name for name in BUNDLE_FILES if not (path / name).exists()]
    if missing:
        raise FileNotFoundError(f"{path} is not an hncf bundle: missing {', '.join(missing)}")
    try:
        model = keras.models.load_model(path / "model.keras", safe_mode=True)
    except Exception as e:  # Keras raises several types for a damaged archive
        raise ValueError(f"{path / 'model.keras'} cannot be loaded ({type(e).__name__}: {e})") from e
    ids = json.loads((path / "ids.json").read_text())
    with np.load(path / "item_tables.npz") as z:
        tables = {k: z[k] for k in z.files}
    info = pd.read_csv(path / "items.csv") if (path / "items.csv").exists() else None
    meta = json.loads((path / "meta.json").read_text())
    return UserItemRecommender(model, IdMap.from_dict(ids["users"]), IdMap.from_dict(ids["items"]),
                               sp.load_npz(path / "seen.npz"), tables, info, meta)
