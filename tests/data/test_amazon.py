"""Amazon review files: both field sets, gzip or plain, bad lines counted with line numbers, filters."""

import gzip
import json

import pytest

from hncf.data.amazon import k_core, load_reviews, read_reviews, sample_users, write_synthetic_reviews


def _write(path, lines, compress=False):
    text = "\n".join(lines) + "\n"
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    return path


def _line(user, item, rating=5.0, text="good strings", t=100, **extra):
    return json.dumps({"reviewerID": user, "asin": item, "overall": rating, "reviewText": text, "summary": "s",
                       "unixReviewTime": t, **extra})


@pytest.mark.parametrize("fmt", ["2014", "2018"])
@pytest.mark.parametrize("compress", [True, False])
def test_both_formats_plain_or_gzip(tmp_path, fmt, compress):
    path = write_synthetic_reviews(tmp_path / "r.json", n_users=6, n_items=10, per_user=3, fmt=fmt, compress=compress)
    df, report = read_reviews(path)
    assert len(df) == 18 == report.used and set(df.columns) >= {"user", "item", "rating", "timestamp", "text"}
    assert df["text"].str.len().min() > 0 and df["has_text"].all()


def test_bad_lines_are_counted_with_line_numbers_and_not_fatal(tmp_path):
    path = _write(tmp_path / "r.json", [
        _line("u1", "i1", t=1),
        "{not json",
        json.dumps({"asin": "i2", "overall": 4}),  # no reviewerID
        _line("u1", "i3", rating=9),
        _line("u2", "i1", text="", summary=""),
        _line("u1", "i1", text="newer review", t=5),  # duplicate of line 1, later: kept
        "[1, 2]",
    ])
    df, rep = read_reviews(path)
    assert [n for n, _ in rep.malformed] == [2, 7]
    assert [n for n, _ in rep.missing_fields] == [3]
    assert [n for n, _ in rep.bad_ratings] == [4]
    assert [n for n, _ in rep.empty_text] == [5]
    assert [n for n, _ in rep.duplicates] == [1]
    assert len(df) == 2 and df.loc[df["user"] == "u1", "text"].item() == "newer review"
    assert not df.loc[df["user"] == "u2", "has_text"].item()
    s = rep.summary()
    assert "2 malformed lines (line 2, 7)" in s and "duplicate" in s and "2 of 7 lines used" in s


def test_a_file_with_no_usable_line_is_a_clear_error(tmp_path):
    path = _write(tmp_path / "bad.json", ["{", json.dumps({"asin": "x"})])
    with pytest.raises(ValueError, match=r"bad\.json has no usable review line \(2 lines: 1 malformed, 1 missing"):
        read_reviews(path)
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        read_reviews(tmp_path / "nowhere.json")


def test_k_core_is_repeated_until_stable_and_reported(tmp_path):
    lines = [_line(f"u{u}", f"i{i}") for u in range(4) for i in range(3)] + [_line("u9", "i0"), _line("u0", "i9")]
    df, rep = read_reviews(_write(tmp_path / "r.json", lines))
    core = k_core(df, 3, 3, rep)
    assert len(core) == 12 and "u9" not in set(core["user"]) and "i9" not in set(core["item"])
    assert rep.filters[-1][1:] == (2, 1, 1)
    with pytest.raises(ValueError, match="lower --min-user-reviews"):
        k_core(df, 50, 1)
    sampled = sample_users(core, 2, seed=0, report=rep)
    assert sampled["user"].nunique() == 2 and sampled.groupby("user").size().eq(3).all()


def test_a_k_core_that_leaves_nothing_names_the_file_and_its_malformed_lines(tmp_path):
    lines = [_line(f"u{u}", "i0") for u in range(3)] + ["{broken"] * 6 + [_line("u0", "i1")]
    path = _write(tmp_path / "reviews.json", lines)
    with pytest.raises(ValueError) as e:
        load_reviews(path, min_user=2, min_item=2, progress=False)
    msg = str(e.value)
    assert msg.startswith(f"{path}: 4 of 10 lines used: 6 malformed lines (line 4, 5, 6, 7, 8, ...)")
    assert "no review is left after keeping users with >= 2 and items with >= 2" in msg
    assert "repair the skipped lines" in msg


def test_real_musical_instruments_file(real_dataset):
    path = real_dataset("amazon-musical-instruments-5core") / "reviews_Musical_Instruments_5.json.gz"
    df, rep = load_reviews(path, min_user=5, min_item=5, progress=False)
    assert rep.lines == 10_261 and not rep.malformed
    assert df["user"].nunique() == 1_429 and df["item"].nunique() == 900
