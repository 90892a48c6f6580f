import os

import numpy as np
import pytest

from hncf.data import sampling
from hncf.data.sampling import (
    load_test_negatives,
    sample_negatives,
    sample_test_negatives,
    save_test_negatives,
    user_item_csr,
)
from hncf.data.schema import IdMap, encode_interactions
from hncf.data.synthetic import synthetic_interactions


@pytest.fixture(scope="module")
def encoded():
    df = synthetic_interactions(n_users=50, n_items=200, n_ratings=1200, seed=3)
    users, items = IdMap(df["user"], "user"), IdMap(df["item"], "item")
    enc = encode_interactions(df, users, items)
    u, i = enc["user"].to_numpy(), enc["item"].to_numpy()
    return u, i, len(users), len(items), user_item_csr(u, i, len(users), len(items))


def _any_positive(csr, users, negatives):
    rows = np.repeat(np.asarray(users), negatives.shape[1])
    return bool(np.asarray(csr[rows, negatives.ravel()]).any())


def test_user_item_csr_counts_duplicates_once():
    m = user_item_csr([0, 0, 1, 1], [2, 2, 0, 3], 3, 4)
    assert m.shape == (3, 4) and m.nnz == 3
    np.testing.assert_array_equal(m.toarray(), [[0, 0, 1, 0], [1, 0, 0, 1], [0, 0, 0, 0]])
    with pytest.raises(ValueError, match="item index 4 out of range"):
        user_item_csr([0], [4], 3, 4)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("replace", [True, False])
def test_sample_negatives_never_returns_a_positive(encoded, seed, replace):
    u, _, n_users, n_items, csr = encoded
    neg = sample_negatives(u, n_items, csr, 4, np.random.default_rng(seed), replace=replace)
    assert neg.shape == (len(u), 4) and neg.dtype == np.int64
    assert neg.min() >= 0 and neg.max() < n_items
    assert not _any_positive(csr, u, neg)
    if not replace:
        assert all(len(set(row)) == 4 for row in neg)


@pytest.mark.parametrize("kind, bool_cells, bit_cells", [("bool", 1 << 25, 1 << 28), ("bits", 0, 1 << 28), ("keys", 0, 0)])
def test_membership_tables_agree(encoded, monkeypatch, kind, bool_cells, bit_cells):
    _, _, n_users, n_items, csr = encoded
    monkeypatch.setattr(sampling, "_BOOL_TABLE_CELLS", bool_cells)
    monkeypatch.setattr(sampling, "_BIT_TABLE_CELLS", bit_cells)
    known = sampling._Positives(csr)
    assert known.kind == kind
    uu, ii = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    np.testing.assert_array_equal(known.contains(uu.ravel(), ii.ravel()), csr.toarray().ravel() > 0)


def test_sample_negatives_user_with_no_free_item_is_named():
    csr = user_item_csr([0, 0, 0, 1], [0, 1, 2, 0], 2, 3)
    with pytest.raises(ValueError, match="user 0 has only 0 of 3 items"):
        sample_negatives([1, 0], 3, csr, 2, 0)
    with pytest.raises(ValueError, match="user 1 has only 2 of 3 items.*3 distinct negatives"):
        sample_negatives([1], 3, csr, 3, 0, replace=False)


def test_sample_negatives_nearly_full_user_terminates_exactly():
    n_items = 500
    csr = user_item_csr(np.zeros(n_items - 3, dtype=int), np.arange(3, n_items), 1, n_items)
    neg = sample_negatives([0] * 100, n_items, csr, 3, 0, replace=False)
    assert (np.sort(neg, axis=1) == [0, 1, 2]).all()
    neg = sample_negatives([0] * 100, n_items, csr, 20, 0)
    assert set(np.unique(neg)) <= {0, 1, 2}


def test_sample_negatives_input_checks(encoded):
    u, _, n_users, n_items, csr = encoded
    with pytest.raises(ValueError, match=f"user index {n_users} out of range"):
        sample_negatives([n_users], n_items, csr, 1, 0)
    with pytest.raises(ValueError, match="n_items=7"):
        sample_negatives([0], 7, csr, 1, 0)
    assert sample_negatives([], n_items, csr, 4, 0).shape == (0, 4)


def test_sample_negatives_ml100k_size_never_returns_a_positive():
    # ML-100K-sized: 943 users, 1,682 items, 100,000 positives; 4 negatives each (timing: benchmarks/).
    rng = np.random.default_rng(0)
    users = rng.integers(0, 943, 100_000)
    csr = user_item_csr(users, rng.integers(0, 1682, 100_000), 943, 1682)
    neg = sample_negatives(users, 1682, csr, 4, rng)
    assert neg.shape == (100_000, 4)
    assert not np.asarray(csr[np.repeat(users, 4), neg.ravel()]).any()


def test_test_negatives_distinct_exclude_everything_and_repeat(encoded):
    u, _, n_users, n_items, csr = encoded
    users = np.arange(n_users)
    neg = sample_test_negatives(csr, users, n_neg=40, seed=0)
    assert neg.shape == (n_users, 40)
    assert all(len(set(row)) == 40 for row in neg)
    assert not _any_positive(csr, users, neg)
    np.testing.assert_array_equal(neg, sample_test_negatives(csr, users, n_neg=40, seed=0))
    assert not np.array_equal(neg, sample_test_negatives(csr, users, n_neg=40, seed=1))


def test_test_negatives_exclude_held_out_items():
    df = synthetic_interactions(n_users=30, n_items=200, n_ratings=900, seed=8)
    users, items = IdMap(df["user"], "user"), IdMap(df["item"], "item")
    enc = encode_interactions(df, users, items)
    all_csr = user_item_csr(enc["user"], enc["item"], len(users), len(items))
    neg = sample_test_negatives(all_csr, np.arange(len(users)), n_neg=99, seed=0)
    assert neg.shape == (len(users), 99)
    pairs = set(zip(enc["user"], enc["item"]))
    assert not any((u, i) in pairs for u, row in enumerate(neg) for i in row)


def test_save_and_load_test_negatives(tmp_path):
    users = np.array([3, 1, 2])
    neg = np.arange(12).reshape(3, 4)
    meta = {"dataset": "ml-100k", "seed": 0, "n_neg": 4}
    path = save_test_negatives(tmp_path / "neg" / "ml-100k.npz", users, neg, meta)
    assert path.name == "ml-100k.npz" and os.listdir(path.parent) == ["ml-100k.npz"]
    loaded = load_test_negatives(path)
    np.testing.assert_array_equal(loaded.users, users)
    np.testing.assert_array_equal(loaded.negatives, neg)
    assert loaded.meta == meta
    u, n, m = loaded  # plain tuple unpacking works too
    assert m["seed"] == 0


def test_save_test_negatives_is_atomic(tmp_path, monkeypatch):
    path = save_test_negatives(tmp_path / "n.npz", [0], [[1, 2]], {"v": 1})

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        save_test_negatives(path, [0], [[5, 6]], {"v": 2})
    assert os.listdir(tmp_path) == ["n.npz"]  # no temporary file left
    assert load_test_negatives(path).meta == {"v": 1}  # the old file is intact


def test_save_and_load_errors(tmp_path):
    with pytest.raises(ValueError, match=r"\(len\(users\), n_neg\)"):
        save_test_negatives(tmp_path / "x.npz", [0, 1], [[1, 2]])
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_test_negatives(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="other.npz is not a readable test-negatives file"):
        load_test_negatives(tmp_path / "other.npz")


def _corrupt_variants(good: bytes) -> dict[str, bytes]:
    flipped = bytearray(good)
    flipped[len(good) // 3] ^= 0xFF
    return {"truncated": good[: len(good) // 2], "empty": b"", "text": b"not an npz at all\n",
            "bit flip": bytes(flipped)}


@pytest.mark.parametrize("kind", ["truncated", "empty", "text", "bit flip"])
def test_corrupt_test_negatives_name_the_file(tmp_path, kind, caplog):
    from hncf.data.sampling import CorruptFileError, load_test_negatives_if_valid

    good = save_test_negatives(tmp_path / "good.npz", [0, 1], [[1, 2], [3, 4]], {"seed": 0}).read_bytes()
    path = tmp_path / "test_negatives_loo_seed0.npz"
    path.write_bytes(_corrupt_variants(good)[kind])
    with pytest.raises(CorruptFileError) as err:
        load_test_negatives(path)
    assert isinstance(err.value, ValueError)  # the CLI's user-error class: one "hncf: error:" line
    msg = str(err.value)
    assert msg.startswith(f"{path} is not a readable test-negatives file (") and "delete it" in msg
    assert path.exists()  # loading never deletes
    # Treated as absent: None, the file deleted, one warning line naming it.
    with caplog.at_level("WARNING", logger="hncf"):
        assert load_test_negatives_if_valid(path) is None
    assert not path.exists()
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith(f"hncf: warning: {path} is not a readable test-negatives file (")
    assert line.endswith("deleted it, sampling the negatives again")


def test_test_negatives_with_wrong_contents_or_kept_when_asked(tmp_path):
    from hncf.data.sampling import CorruptFileError, load_test_negatives_if_valid

    path = tmp_path / "n.npz"
    np.savez(path, users=np.zeros(3, np.int64), negatives=np.zeros((2, 4), np.int64), meta=np.array("{}"))
    with pytest.raises(CorruptFileError, match=r"users int64\[3\], negatives int64\[2, 4\]"):
        load_test_negatives(path)
    np.savez(path, users=np.zeros(2, np.int64), negatives=np.zeros((2, 4), np.int64), meta=np.array("{oops"))
    with pytest.raises(CorruptFileError, match="JSONDecodeError"):
        load_test_negatives(path)
    assert load_test_negatives_if_valid(path, delete_corrupt=False) is None and path.exists()
    assert load_test_negatives_if_valid(None) is None and load_test_negatives_if_valid(tmp_path / "no.npz") is None
    good = save_test_negatives(tmp_path / "ok.npz", [5], [[1, 2]], {"seed": 3})
    assert load_test_negatives_if_valid(good).meta == {"seed": 3}
