"""The scale data path: ratings.csv -> int32 arrays, the memory-mapped cache, leave-one-out on arrays."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from hncf.data.arrays import (
    cache_key,
    leave_one_out_arrays,
    load_ratings_arrays,
    parse_ratings_csv,
    synthetic_rating_arrays,
    write_ratings_csv,
)
from hncf.data.movielens import load_movielens
from hncf.data.schema import SchemaError
from hncf.data.splits import leave_one_out_split
from hncf.data.synthetic import write_synthetic_movielens

ML20M_LINES = [
    "userId,movieId,rating,timestamp",
    "1,2,3.5,1112486027",
    "1,29,3.5,1112484676",
    "7,32,4.0,1112484819",
    "3,2,5.0,1112484727",
    "7,29,0.5,1112484580",
]


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_parse_ml20m_lines_into_int32_indices_in_id_order(tmp_path):
    data = parse_ratings_csv(_write(tmp_path / "ratings.csv", ML20M_LINES))
    assert data.users.dtype == np.int32 and data.items.dtype == np.int32
    np.testing.assert_array_equal(data.user_ids, [1, 3, 7])
    np.testing.assert_array_equal(data.item_ids, [2, 29, 32])
    np.testing.assert_array_equal(data.users, [0, 0, 2, 1, 2])
    np.testing.assert_array_equal(data.items, [0, 1, 2, 0, 1])
    np.testing.assert_array_equal(data.ratings, np.float32([3.5, 3.5, 4.0, 5.0, 0.5]))
    np.testing.assert_array_equal(data.timestamps[:2], [1112486027, 1112484676])
    assert data.n_bad_lines == 0 and (data.n_users, data.n_items, len(data)) == (3, 3, 5)
    np.testing.assert_array_equal(data.encode_items([32, 2]), [2, 0])
    with pytest.raises(KeyError, match="unknown movie id 5"):
        data.encode_items([2, 5])


def test_malformed_lines_are_counted_with_line_numbers_not_fatal(tmp_path):
    lines = ML20M_LINES[:3] + ["1,abc,3.0,1112484000", "", "2,5,,1112484001", "2,6,4.0", "2,7,4.5,1112484002,x"] \
        + ML20M_LINES[3:]
    data = parse_ratings_csv(_write(tmp_path / "ratings.csv", lines))
    assert len(data) == 5 and data.n_bad_lines == 4
    assert [b[0] for b in data.bad_lines] == [4, 6, 7, 8]
    assert "integers" in data.bad_lines[0][1] and "found 3" in data.bad_lines[2][1]
    clean = parse_ratings_csv(_write(tmp_path / "clean.csv", ML20M_LINES))
    np.testing.assert_array_equal(data.users, clean.users)
    np.testing.assert_array_equal(data.items, clean.items)


def test_wrong_header_and_missing_file_are_named(tmp_path):
    bad = _write(tmp_path / "ratings.csv", ["user,item,rating,timestamp", "1,2,3.0,4"])
    with pytest.raises(SchemaError, match=r"ratings.csv, line 1: wrong columns"):
        parse_ratings_csv(bad)
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_ratings_arrays(tmp_path / "nope.csv")
    only_bad = _write(tmp_path / "bad.csv", [ML20M_LINES[0], "x,y,z,w"])
    with pytest.raises(SchemaError, match="no valid rating lines"):
        parse_ratings_csv(only_bad)


def test_same_arrays_as_the_dataframe_loader_on_a_synthetic_ml20m_release(tmp_path):
    root = write_synthetic_movielens(tmp_path, "ml-20m", n_users=25, n_items=30, n_ratings=300, seed=1)
    root = root if (root / "ratings.csv").exists() else next(p.parent for p in tmp_path.rglob("ratings.csv"))
    arrays = load_ratings_arrays(root, cache_dir=tmp_path / "cache")
    df = load_movielens("ml-20m", data_dir=root).interactions
    np.testing.assert_array_equal(arrays.user_ids[arrays.users], df["user"].to_numpy())
    np.testing.assert_array_equal(arrays.item_ids[arrays.items], df["item"].to_numpy())
    np.testing.assert_array_equal(arrays.timestamps, df["timestamp"].to_numpy())


def test_cache_is_memory_mapped_keyed_by_the_file_and_never_half_written(tmp_path):
    path = _write(tmp_path / "ratings.csv", ML20M_LINES)
    cache = tmp_path / "cache"
    first = load_ratings_arrays(path, cache_dir=cache)
    again = load_ratings_arrays(path, cache_dir=cache)
    assert again.from_cache and isinstance(again.users, np.memmap)
    np.testing.assert_array_equal(first.users, again.users)
    assert not list(cache.glob(".*part"))  # the temporary folder was moved into place
    key = cache_key(path)
    _write(path, ML20M_LINES + ["9,2,1.0,1112484999"])
    os.utime(path, ns=(1, 1))
    assert cache_key(path) != key
    changed = load_ratings_arrays(path, cache_dir=cache)
    assert len(changed) == 6 and changed.n_users == 4
    # A corrupt cache entry is parsed again, not trusted.
    folder = next(p for p in cache.iterdir() if cache_key(path) in p.name)
    (folder / "users.npy").write_bytes(b"garbage")
    assert len(load_ratings_arrays(path, cache_dir=cache)) == 6


def test_leave_one_out_on_arrays_matches_the_dataframe_split():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 40, 500)
    ts = rng.integers(0, 30, 500)  # many ties: file order breaks them
    split = leave_one_out_arrays(users, ts, 40, validation=False)
    df = pd.DataFrame({"user": users, "item": np.arange(500), "timestamp": ts})
    train, test = leave_one_out_split(df)
    np.testing.assert_array_equal(np.sort(split.test), np.sort(test.index.to_numpy()))
    np.testing.assert_array_equal(np.sort(split.train), np.sort(train.index.to_numpy()))
    assert split.validation.size == 0


def test_leave_one_out_validation_is_the_second_latest_and_keeps_one_training_row():
    users = np.array([0, 0, 0, 1, 1, 2, 0])
    ts = np.array([1, 5, 3, 2, 1, 9, 4])
    split = leave_one_out_arrays(users, ts, 3)
    assert sorted(split.test.tolist()) == [1, 3]  # user 0 at t=5, user 1 at t=2; user 2 has one rating
    assert split.validation.tolist() == [6]  # user 0 at t=4; user 1 keeps its other row for training
    assert sorted(split.train.tolist()) == [0, 2, 4, 5]


def test_synthetic_ml20m_format_round_trips_through_the_writer_and_parser(tmp_path):
    d = synthetic_rating_arrays(5000, n_users=100, n_items=300, seed=3)
    keys = d["userId"] * 10**6 + d["movieId"]
    assert np.unique(keys).size == keys.size and len(keys) > 4500
    path = write_ratings_csv(tmp_path / "ml-20m" / "ratings.csv", d["userId"], d["movieId"], d["rating"],
                             d["timestamp"])
    assert path.read_text().splitlines()[0] == "userId,movieId,rating,timestamp"
    back = parse_ratings_csv(path)
    np.testing.assert_array_equal(back.user_ids[back.users], d["userId"])
    np.testing.assert_array_equal(back.item_ids[back.items], d["movieId"])
    np.testing.assert_array_equal(back.ratings, d["rating"])
    np.testing.assert_array_equal(back.timestamps, d["timestamp"])
