"""Train/test splits: pure functions over DataFrames, column names as arguments.

Every splitter returns ``(train, test)`` as row subsets of the input with its
original index kept, so rows can be traced back to the source file. Ties
between equal timestamps are always broken by file (row) order, through
stable sorts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hncf.data.schema import ITEM, TIMESTAMP, USER

_RULES = ("round", "fraction")


def _check_columns(df: pd.DataFrame, cols, fn: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(f"{fn}: column(s) {missing} not in the DataFrame; it has {list(df.columns)}")


def _check_ratio(ratio: float, fn: str) -> float:
    ratio = float(ratio)
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"{fn}: ratio must lie strictly between 0 and 1, got {ratio}")
    return ratio


def _group_codes(values) -> np.ndarray:
    # Sorted codes, so the output is grouped in ascending id order like a pandas groupby.
    codes, _ = pd.factorize(pd.Series(values), sort=True)
    if (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        raise ValueError(f"missing id in row {row} (position); splits need every row's id")
    return codes


def _per_group_rank(df: pd.DataFrame, col_group: str, order_key) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row positions sorted by (group, order_key, row order), 1-based rank and group size per sorted row."""
    codes = _group_codes(df[col_group].to_numpy())
    # np.lexsort is stable: rows with equal (group, key) keep their file order.
    order = np.lexsort((np.asarray(order_key), codes))
    sorted_codes = codes[order]
    counts = np.bincount(codes)
    n = len(order)
    starts = np.cumsum(counts) - counts
    rank = np.arange(n) - np.repeat(starts, counts) + 1  # groups are contiguous after the sort
    count = counts[sorted_codes]
    return order, rank, count


def _take_ranked(df: pd.DataFrame, order, rank, count, ratio: float, rule: str, fn: str):
    if rule == "round":
        # np.round is half-to-even, like Python's round() in the old Recommenders code.
        in_train = rank <= np.round(ratio * count)
    elif rule == "fraction":
        in_train = rank / count <= ratio
    else:
        raise ValueError(f"{fn}: rule must be one of {_RULES}, got {rule!r}")
    return df.iloc[order[in_train]], df.iloc[order[~in_train]]


def chrono_ratio_split(df: pd.DataFrame, ratio: float = 0.75, *, col_user: str = USER,
                       col_timestamp: str = TIMESTAMP, rule: str = "round") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user chronological split: each user's earliest interactions go to train.

    With the default ``rule="round"`` a user with ``n`` interactions keeps
    the first ``round(ratio * n)`` of them (round half to even, so 6 * 0.75 =
    4.5 -> 4 and 2 * 0.75 = 1.5 -> 2) in train. That is Microsoft
    Recommenders' ``python_chrono_split`` as it was in ``reco_utils`` (per user
    ``split_pandas_data_with_ratios``, ``round(ratio * len(group))``), the
    version behind the NCF notebook's 74,992 training rows on ML-100K.
    ``rule="fraction"`` reproduces the current
    ``recommenders.datasets.python_splitters`` (train = ``rank / n <= ratio``,
    i.e. the floor: 74,646 rows on ML-100K).

    Within a user, rows are ordered by timestamp with a stable sort, so equal
    timestamps keep file order (the old Recommenders code used an unstable
    quicksort there; only which of two tied rows sits on the boundary can
    differ). Outputs are sorted by user, then time.
    """
    fn = "chrono_ratio_split"
    _check_columns(df, [col_user, col_timestamp], fn)
    ratio = _check_ratio(ratio, fn)
    order, rank, count = _per_group_rank(df, col_user, df[col_timestamp].to_numpy())
    return _take_ranked(df, order, rank, count, ratio, rule, fn)


def filter_to_train(test: pd.DataFrame, train: pd.DataFrame, *, col_user: str = USER,
                    col_item: str = ITEM) -> pd.DataFrame:
    """Drop test rows whose user or item never occurs in train (as the Recommenders NCF notebook does)."""
    _check_columns(test, [col_user, col_item], "filter_to_train")
    _check_columns(train, [col_user, col_item], "filter_to_train")
    keep = test[col_user].isin(pd.unique(train[col_user])) & test[col_item].isin(pd.unique(train[col_item]))
    return test[keep]


def leave_one_out_split(df: pd.DataFrame, *, col_user: str = USER,
                        col_timestamp: str = TIMESTAMP) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's latest interaction is the test row (He et al. 2017).

    Tie rule: among rows sharing a user's latest timestamp, the one that comes
    last in file order is the test row. A user with a single interaction has
    nothing to learn from, so that interaction stays in train and the user has
    no test row. Train is sorted by user, then time; test by user.
    """
    fn = "leave_one_out_split"
    _check_columns(df, [col_user, col_timestamp], fn)
    order, rank, count = _per_group_rank(df, col_user, df[col_timestamp].to_numpy())
    is_test = (rank == count) & (count > 1)
    return df.iloc[order[~is_test]], df.iloc[order[is_test]]


def random_split(df: pd.DataFrame, ratio: float = 0.75, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Global random split: ``round(ratio * len(df))`` random rows to train, the rest to test."""
    ratio = _check_ratio(ratio, "random_split")
    perm = np.random.default_rng(seed).permutation(len(df))
    n_train = int(np.round(ratio * len(df)))
    return df.iloc[np.sort(perm[:n_train])], df.iloc[np.sort(perm[n_train:])]


def stratified_split(df: pd.DataFrame, ratio: float = 0.75, seed: int = 42, *, col_user: str = USER,
                     rule: str = "fraction") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user random split: each user keeps about ``ratio`` of their rows in train.

    Same procedure as Recommenders' ``python_stratified_split``: a uniform key
    per row from ``np.random.RandomState(seed).rand(len(df))`` (in row order),
    rows sorted by (user, key), and ``rank / n <= ratio`` in train. With the
    default ``rule="fraction"`` the rows chosen are theirs for the same input
    order and seed; ``rule="round"`` uses ``round(ratio * n)`` as
    :func:`chrono_ratio_split` does.
    """
    fn = "stratified_split"
    _check_columns(df, [col_user], fn)
    ratio = _check_ratio(ratio, fn)
    keys = np.random.RandomState(seed).rand(len(df))
    order, rank, count = _per_group_rank(df, col_user, keys)
    return _take_ranked(df, order, rank, count, ratio, rule, fn)


VALIDATION_METHODS = ("leave_one_out", "chrono", "stratified", "random")


def validation_split(train: pd.DataFrame, method: str = "leave_one_out", ratio: float = 0.9,
                     seed: int = 0, *, col_user: str = USER,
                     col_timestamp: str = TIMESTAMP) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Carve a validation set out of training data: ``(train_part, validation)``.

    Model selection and early stopping use this, never the test set. Methods:
    ``"leave_one_out"`` (each user's latest training row), ``"chrono"``
    (per user, the latest ``1 - ratio``), ``"stratified"`` (per user, a random
    ``1 - ratio``), ``"random"`` (a random ``1 - ratio`` of all rows).
    ``ratio`` is the share kept for training; it is ignored by leave-one-out.
    """
    if method == "leave_one_out":
        return leave_one_out_split(train, col_user=col_user, col_timestamp=col_timestamp)
    if method == "chrono":
        return chrono_ratio_split(train, ratio, col_user=col_user, col_timestamp=col_timestamp)
    if method == "stratified":
        return stratified_split(train, ratio, seed, col_user=col_user)
    if method == "random":
        return random_split(train, ratio, seed)
    raise ValueError(f"validation_split: unknown method {method!r}; known: {', '.join(VALIDATION_METHODS)}")
