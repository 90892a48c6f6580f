import json

import numpy as np
import pandas as pd
import pytest

from hncf.data.schema import (
    INTERACTION_COLUMNS,
    IdMap,
    SchemaError,
    check_interactions,
    encode_interactions,
)


def test_idmap_round_trip_is_sorted_and_contiguous():
    raw = np.array([30, 10, 20, 10, 30, 5])
    m = IdMap(raw, name="user")
    assert len(m) == 4
    assert m.raw.tolist() == [5, 10, 20, 30]
    idx = m.encode(raw)
    assert idx.dtype == np.int64
    assert idx.tolist() == [3, 1, 2, 1, 3, 0]
    np.testing.assert_array_equal(m.decode(idx), raw)


def test_idmap_string_ids_round_trip():
    raw = ["A2X", "b1", "A2X", "zz"]
    m = IdMap(raw, name="user")
    np.testing.assert_array_equal(m.decode(m.encode(raw)), np.array(raw, dtype=object))


def test_idmap_to_dict_from_dict_through_json():
    m = IdMap([7, 3, 11], name="item")
    back = IdMap.from_dict(json.loads(json.dumps(m.to_dict())))
    assert back.name == "item"
    np.testing.assert_array_equal(back.raw, m.raw)
    np.testing.assert_array_equal(back.encode([11, 3]), m.encode([11, 3]))


def test_idmap_unknown_ids_name_them():
    m = IdMap([1, 2, 3], name="item")
    with pytest.raises(KeyError, match=r"unknown item\(s\) \[99\]"):
        m.encode([1, 99])


def test_idmap_unknown_ids_list_is_capped():
    m = IdMap([1], name="user")
    with pytest.raises(KeyError, match="and 2 more"):
        m.encode([10, 11, 12, 13, 14, 15, 16])


def test_idmap_decode_out_of_range():
    m = IdMap([1, 2], name="user")
    with pytest.raises(IndexError, match=r"\[0, 2\)"):
        m.decode([2])
    with pytest.raises(IndexError):
        m.decode([-1])


def test_encode_interactions_maps_both_columns_and_keeps_input():
    df = pd.DataFrame({"user": [10, 20, 10], "item": [5, 5, 7], "rating": [1.0, 2.0, 3.0], "timestamp": [1, 2, 3]})
    users, items = IdMap(df["user"], "user"), IdMap(df["item"], "item")
    enc = encode_interactions(df, users, items)
    assert enc["user"].tolist() == [0, 1, 0]
    assert enc["item"].tolist() == [0, 0, 1]
    assert df["user"].tolist() == [10, 20, 10]  # the input is not modified
    assert enc["rating"].tolist() == [1.0, 2.0, 3.0]


def _frame(**over):
    d = {"user": [1, 2], "item": [3, 4], "rating": [4.0, 5.0], "timestamp": [10, 20]}
    d.update(over)
    return pd.DataFrame(d)


def test_check_interactions_accepts_schema():
    df = _frame()
    assert check_interactions(df) is df
    assert tuple(df.columns) == INTERACTION_COLUMNS


def test_check_interactions_missing_column():
    with pytest.raises(SchemaError, match=r"mine: missing column\(s\) \['timestamp'\]"):
        check_interactions(_frame().drop(columns="timestamp"), source="mine")


def test_check_interactions_nan_rating_names_row():
    with pytest.raises(SchemaError, match="rating is NaN .* row 1 .*user 2, item 4"):
        check_interactions(_frame(rating=[4.0, np.nan]))


def test_check_interactions_missing_user():
    with pytest.raises(SchemaError, match="missing user in row 0"):
        check_interactions(_frame(user=[None, 2]))


def test_merge_duplicates_keeps_latest_then_last_in_file_order():
    from hncf.data.schema import DUPLICATE_RULE, merge_duplicates

    df = pd.DataFrame({
        "user": [1, 1, 2, 1, 2, 3, 2],
        "item": [10, 11, 10, 10, 10, 10, 10],
        "rating": [1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 2.0],
        "timestamp": [100, 100, 50, 90, 70, 1, 70],
    }, index=[10, 11, 12, 13, 14, 15, 16])
    out, info = merge_duplicates(df)
    # (1, 10): rows 0 (t=100) and 3 (t=90) -> row 0; (2, 10): rows 2, 4, 6 (t=50, 70, 70) -> row 6.
    assert out.index.tolist() == [10, 11, 15, 16]  # file order and index kept
    assert out["rating"].tolist() == [1.0, 2.0, 1.0, 2.0]
    assert (info["rows_dropped"], info["pairs"], info["rule"]) == (3, 2, DUPLICATE_RULE)
    assert info["examples"] == [{"user": 1, "item": 10, "rows": [0, 3], "kept_row": 0},
                                {"user": 2, "item": 10, "rows": [2, 4, 6], "kept_row": 6}]
    assert "latest by timestamp" in DUPLICATE_RULE and "last in file order" in DUPLICATE_RULE


def test_merge_duplicates_without_any_returns_the_frame_and_handles_text_ids():
    from hncf.data.schema import merge_duplicates

    df = pd.DataFrame({"user": [1, 2], "item": [3, 3], "rating": [1.0, 2.0], "timestamp": [0, 0]})
    out, info = merge_duplicates(df)
    assert out is df and info["rows_dropped"] == 0 and info["examples"] == []
    text = pd.DataFrame({"user": ["a", "b", "a", "a"], "item": ["x", "x", "x", "y"],
                         "rating": [1.0, 2.0, 3.0, 4.0], "timestamp": [5, 5, 5, 5]})
    out, info = merge_duplicates(text, max_examples=1)
    assert out["rating"].tolist() == [2.0, 3.0, 4.0] and info["examples"][0]["kept_row"] == 2
    assert info["examples"][0]["user"] == "a"
    empty, info = merge_duplicates(text.iloc[:0])
    assert len(empty) == 0 and info["rows_dropped"] == 0
