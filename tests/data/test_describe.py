import numpy as np
import pandas as pd
import pytest

from hncf.data.describe import describe_interactions, describe_splits
from hncf.pipeline import prepare_chrono, prepare_loo


def _frame():
    # user 1: 3 ratings, user 2: 1 rating; items a (2), b (1), c (1)
    return pd.DataFrame({"user": [1, 1, 1, 2], "item": [10, 11, 12, 10], "rating": [4.0, 5.0, 3.0, 4.0],
                         "timestamp": [0, 86_400, 2 * 86_400, 10 * 86_400]})


def test_interaction_counts_are_hand_computed():
    t = describe_interactions(_frame())["value"]
    assert (t["ratings"], t["users"], t["items"]) == (4, 2, 3)
    assert t["density"] == pytest.approx(4 / 6)
    assert t["ratings per user (min / median / max)"] == "1 / 2 / 3"
    assert t["ratings per item (min / median / max)"] == "1 / 1 / 2"
    assert t["rating values"] == "3, 4, 5"
    assert t["mean rating"] == pytest.approx(4.0)
    assert t["first / last day"] == "1970-01-01 / 1970-01-11"


def test_missing_column_is_named():
    with pytest.raises(ValueError, match=r"missing column\(s\) \['item'\]"):
        describe_interactions(pd.DataFrame({"user": [1]}))


def test_split_sizes_add_up():
    from hncf.data import synthetic_interactions

    inter = synthetic_interactions(n_users=40, n_items=400, n_ratings=900, seed=0)
    chrono, loo = prepare_chrono(inter, 0), prepare_loo(inter, 0, None)
    t = describe_splits({"chrono": chrono, "loo": loo})
    assert list(t.index) == ["chrono", "loo"]
    for name, s in (("chrono", chrono), ("loo", loo)):
        row = t.loc[name]
        assert row["fit rows"] + row["validation rows"] == row["train rows"] == len(s.full_train)
        assert row["users"] == len(s.users) and row["test rows"] == len(s.test)
    assert t.loc["loo", "test negatives"] == 99 and t.loc["chrono", "test negatives"] == 0
    assert t.loc["loo", "test rows"] <= inter["user"].nunique()  # test items unseen in training are dropped
    assert np.issubdtype(t["train rows"].dtype, np.integer)
