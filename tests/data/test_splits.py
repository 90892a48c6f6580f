import numpy as np
import pandas as pd
import pytest

from hncf.data.splits import (
    chrono_ratio_split,
    filter_to_train,
    leave_one_out_split,
    random_split,
    stratified_split,
    validation_split,
)
from hncf.data.synthetic import synthetic_interactions


def _rows(user, timestamps, start_item=0):
    return [(user, start_item + k, 3.0, t) for k, t in enumerate(timestamps)]


@pytest.fixture
def hand():
    """Users with 6, 2, 5, 10 and 1 interactions, some timestamps tied, rows out of time order."""
    rows = (
        _rows("a", [50, 10, 30, 30, 20, 60])  # 6 rows: round(4.5) = 4 (half to even)
        + _rows("b", [5, 1], 100)  # 2 rows: round(1.5) = 2
        + _rows("c", [9, 8, 7, 6, 5], 200)  # 5 rows: round(3.75) = 4
        + _rows("d", list(range(10)), 300)  # 10 rows: round(7.5) = 8
        + _rows("e", [1], 400)  # 1 row: round(0.75) = 1
    )
    df = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])
    return df.sample(frac=1.0, random_state=3)  # shuffle across users; ties keep their relative order


def test_chrono_split_hand_computed(hand):
    train, test = chrono_ratio_split(hand, 0.75)
    sizes = train.groupby("user").size().to_dict()
    assert sizes == {"a": 4, "b": 2, "c": 4, "d": 8, "e": 1}
    # User a by time: 10(i1), 20(i4), 30(i2), 30(i3), 50(i0), 60(i5); the two rows at 30 are
    # both in train, so train is i1, i4, i2, i3 in time order with ties in input order.
    tied = hand[(hand.user == "a") & (hand.timestamp == 30)]["item"].tolist()
    assert train[train.user == "a"]["item"].tolist() == [1, 4] + tied
    assert sorted(test[test.user == "a"]["item"]) == [0, 5]
    assert test[test.user == "c"]["item"].tolist() == [200]  # the latest (t=9)
    assert len(train) + len(test) == len(hand)
    assert set(train.index).isdisjoint(test.index)


def test_chrono_split_fraction_rule_is_floor(hand):
    train, test = chrono_ratio_split(hand, 0.75, rule="fraction")
    assert train.groupby("user").size().to_dict() == {"a": 4, "b": 1, "c": 3, "d": 7}
    assert test[test.user == "e"]["item"].tolist() == [400]  # 1 / 1 > 0.75: a lone row goes to test


def test_chrono_split_tie_on_the_boundary_keeps_file_order():
    df = pd.DataFrame({"user": [1] * 4, "item": [10, 11, 12, 13], "timestamp": [5, 7, 7, 1]})
    train, test = chrono_ratio_split(df, 0.5)  # 2 of 4 in train: t=1, then the first t=5
    assert train["item"].tolist() == [13, 10]
    df = pd.DataFrame({"user": [1] * 4, "item": [10, 11, 12, 13], "timestamp": [7, 7, 7, 1]})
    train, test = chrono_ratio_split(df, 0.5)
    assert train["item"].tolist() == [13, 10]  # of three rows at t=7 the first in file order
    assert test["item"].tolist() == [11, 12]


def _reference_chrono(df, ratio):
    """The reco_utils algorithm, per user with a Python loop, but with a stable sort."""
    parts = []
    for _, g in df.sort_values("timestamp", kind="stable").groupby("user"):
        parts.append(g.iloc[: round(ratio * len(g))])
    return pd.concat(parts)


def _reference_current(df, ratio, order_by):
    """The current recommenders _do_stratification: sort, cumcount, rank / count <= ratio."""
    data = df.sort_values(["user", order_by])
    groups = data.groupby("user")
    rank = (groups.cumcount() + 1) / groups["user"].transform("count")
    return data[rank <= ratio]


@pytest.mark.parametrize("ratio", [0.75, 0.5, 0.8, 0.7, 0.9])
def test_chrono_split_matches_reference_implementations(ratio):
    df = synthetic_interactions(n_users=60, n_items=50, n_ratings=1500, seed=5)
    df = df.sample(frac=1.0, random_state=1)
    train, test = chrono_ratio_split(df, ratio)
    ref = _reference_chrono(df, ratio)
    assert train.index.tolist() == ref.index.tolist()  # same rows, same order
    train_f, _ = chrono_ratio_split(df, ratio, rule="fraction")
    assert sorted(train_f.index) == sorted(_reference_current(df, ratio, "timestamp").index)


def test_chrono_split_leaves_input_untouched_and_keeps_index():
    df = synthetic_interactions(seed=2)
    before = df.copy()
    train, test = chrono_ratio_split(df)
    pd.testing.assert_frame_equal(df, before)
    pd.testing.assert_frame_equal(pd.concat([train, test]).sort_index(), df)


def test_chrono_split_custom_columns_and_errors():
    df = pd.DataFrame({"uid": [1, 1, 1, 1], "when": [4, 3, 2, 1], "iid": [1, 2, 3, 4]})
    train, test = chrono_ratio_split(df, 0.75, col_user="uid", col_timestamp="when")
    assert test["iid"].tolist() == [1]
    with pytest.raises(KeyError, match="timestamp"):
        chrono_ratio_split(df, 0.75)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        chrono_ratio_split(df, 1.0, col_user="uid", col_timestamp="when")
    with pytest.raises(ValueError, match="rule must be one of"):
        chrono_ratio_split(df, 0.5, col_user="uid", col_timestamp="when", rule="ceil")


def test_chrono_split_empty_frame():
    df = pd.DataFrame({"user": [], "item": [], "rating": [], "timestamp": []})
    train, test = chrono_ratio_split(df)
    assert len(train) == len(test) == 0


def test_filter_to_train():
    train = pd.DataFrame({"user": [1, 2], "item": [10, 20]})
    test = pd.DataFrame({"user": [1, 2, 3, 1], "item": [20, 30, 10, 10]})
    kept = filter_to_train(test, train)
    assert kept.index.tolist() == [0, 3]  # user 3 and item 30 are unknown to train


def test_leave_one_out_picks_latest_with_tie_rule():
    df = pd.DataFrame({
        "user": [1, 1, 1, 2, 2, 2, 3],
        "item": [10, 11, 12, 20, 21, 22, 30],
        "timestamp": [5, 9, 1, 7, 7, 3, 4],
    })
    train, test = leave_one_out_split(df)
    assert test.set_index("user")["item"].to_dict() == {1: 11, 2: 21}  # 21: the later of the two at t=7
    # User 3 has one interaction: it stays in train and the user has no test row.
    assert 3 not in set(test["user"]) and train[train.user == 3]["item"].tolist() == [30]
    assert len(train) + len(test) == len(df) and set(train.index).isdisjoint(test.index)


def test_leave_one_out_on_synthetic_data():
    df = synthetic_interactions(seed=4)
    train, test = leave_one_out_split(df)
    assert test["user"].is_unique and len(test) == df["user"].nunique()
    latest = df.groupby("user")["timestamp"].max()
    assert (test.set_index("user")["timestamp"] == latest).all()
    last_train = train.groupby("user")["timestamp"].max()
    assert (last_train <= latest).all()


def test_random_split():
    df = synthetic_interactions(seed=0)
    train, test = random_split(df, 0.8, seed=7)
    assert len(train) == 480 and len(test) == 120
    assert set(train.index).isdisjoint(test.index)
    again, _ = random_split(df, 0.8, seed=7)
    other, _ = random_split(df, 0.8, seed=8)
    assert train.index.equals(again.index) and not train.index.equals(other.index)


def test_stratified_split_matches_recommenders_algorithm():
    df = synthetic_interactions(n_users=50, seed=6, n_ratings=1000)
    train, test = stratified_split(df, 0.75, seed=42)
    data = df.copy()
    np.random.seed(42)
    data["random"] = np.random.rand(len(data))
    ref = _reference_current(data, 0.75, "random")
    assert sorted(train.index) == sorted(ref.index)
    per_user = train.groupby("user").size() / df.groupby("user").size()
    assert per_user.between(0.5, 0.75).all()
    same, _ = stratified_split(df, 0.75, seed=42)
    assert same.index.equals(train.index)


def test_stratified_split_round_rule():
    df = pd.DataFrame({"user": [1] * 6 + [2] * 2, "item": range(8)})
    train, _ = stratified_split(df, 0.75, seed=0, rule="round")
    assert train.groupby("user").size().to_dict() == {1: 4, 2: 2}


@pytest.mark.parametrize("method", ["leave_one_out", "chrono", "stratified", "random"])
def test_validation_split_carves_from_train(method):
    df = synthetic_interactions(seed=1)
    train, _ = chrono_ratio_split(df, 0.8)
    sub, val = validation_split(train, method, ratio=0.9, seed=0)
    assert len(sub) + len(val) == len(train)
    assert set(sub.index).isdisjoint(val.index) and set(val.index) <= set(train.index)
    assert len(val) > 0


def test_validation_split_unknown_method():
    with pytest.raises(ValueError, match="unknown method 'kfold'"):
        validation_split(synthetic_interactions(), "kfold")
