"""Shared fixtures for the data tests: synthetic releases and the optional real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hncf.data.synthetic import write_synthetic_movielens

REPO = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """``$HNCF_SHARED_DATA`` if set, else ``<repo>/../shared/data``."""
    env = os.environ.get("HNCF_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture
def real_dataset():
    """Return a function giving the shared folder of a dataset, skipping when it is absent."""

    def get(name: str) -> Path:
        d = shared_data_dir() / name
        if not d.is_dir():
            pytest.skip(f"real-data folder {d} is absent (set HNCF_SHARED_DATA to the shared data folder)")
        return d

    return get


@pytest.fixture
def synthetic_release(tmp_path):
    """Return a function that writes a synthetic release in the real format and gives its folder."""

    def make(fmt: str, **kwargs) -> Path:
        return write_synthetic_movielens(tmp_path / "releases" / fmt, fmt, **kwargs)

    return make
