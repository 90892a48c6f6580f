"""Input checks, directory hashes and batched encoding shared by every text encoder (hncf.encoders.text_base)."""

import numpy as np
import pytest

from hncf.encoders.text_base import check_texts, directory_hash, encode_in_batches


def test_check_texts_names_index_and_id():
    assert list(check_texts(["a", "b"])) == ["a", "b"]
    with pytest.raises(ValueError, match=r"text at index 2 \(item id 'm3'\) is empty or whitespace-only"):
        check_texts(["a", "b", " \t\n"], ids=np.array(["m1", "m2", "m3"]))
    with pytest.raises(ValueError, match=r"text at index 1 is empty"):
        check_texts(["a", ""])
    with pytest.raises(ValueError, match=r"text at index 1 \(item id 7\) is missing"):
        check_texts(["a", None], ids=[3, 7])
    with pytest.raises(ValueError, match=r"index 0 is a bytes, not a str"):
        check_texts([b"a", "b"])
    with pytest.raises(ValueError, match="2 texts but 3 ids"):
        check_texts(["a", "b"], ids=[1, 2, 3])


def test_encode_rejects_blank_text_with_item_id(text_encoder):
    with pytest.raises(ValueError, match=r"index 1 \(item id 42\) is empty or whitespace-only"):
        text_encoder().encode(["a movie", "   "], ids=[41, 42], progress=False)
    with pytest.raises(ValueError, match=r"index 0 \(item id 'x'\) is empty"):
        text_encoder("tfhub").encode([""], ids=["x"], progress=False)


def test_encode_is_independent_of_batching_and_order(text_encoder, texts):
    enc = text_encoder(pooling="mean")
    full = enc.encode(texts, batch_size=64, progress=False)
    ones = enc.encode(texts, batch_size=1, progress=False)
    perm = np.random.default_rng(0).permutation(len(texts))
    permuted = enc.encode([texts[i] for i in perm], batch_size=4, progress=False)
    np.testing.assert_allclose(ones, full, atol=1e-5)
    np.testing.assert_allclose(permuted, full[perm], atol=1e-5)
    assert enc.encode([], progress=False).shape == (0, 16)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        enc.encode(texts, batch_size=0)



def test_check_texts_refuses_scalars_and_matrices():
    with pytest.raises(ValueError, match="a single value"):
        check_texts("one text")
    with pytest.raises(ValueError, match=r"one-dimensional, got shape \(1, 2\)"):
        check_texts([["a", "b"]])
    assert check_texts([]).shape == (0,)


def test_encode_in_batches_keeps_input_order_and_batches_longest_first():
    seen = []

    def encode_batch(batch):  # vector = (length, first letter code), recorded per batch
        words = [t.decode() for t in batch.numpy()]
        seen.append(words)
        return np.array([[len(w), ord(w[0])] for w in words], dtype=np.float64)

    texts = ["bb", "a", "dddd", "ccc"]
    out = encode_in_batches(encode_batch, texts, dim=2, batch_size=2, progress=False)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[2, ord("b")], [1, ord("a")], [4, ord("d")], [3, ord("c")]])
    assert seen == [["dddd", "ccc"], ["bb", "a"]]


def test_directory_hash_follows_content_not_location_and_skips_hidden_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "sub").mkdir(parents=True)
        (d / "config.json").write_text("{}")
        (d / "sub" / "weights.bin").write_bytes(b"\x00\x01")
    assert directory_hash(a) == directory_hash(b)
    (a / ".gitattributes").write_text("ignored")
    (a / ".cache").mkdir()
    (a / ".cache" / "x").write_text("ignored")
    assert directory_hash(a) == directory_hash(b)
    (b / "sub" / "weights.bin").write_bytes(b"\x00\x02")
    assert directory_hash(a) != directory_hash(b)
    (b / "sub" / "weights.bin").write_bytes(b"\x00\x01")
    (b / "sub" / "weights.bin").rename(b / "sub" / "other.bin")  # same bytes, another name
    assert directory_hash(a) != directory_hash(b)
