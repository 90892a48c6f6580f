"""FeatureCache: compute once, recompute only changed content, no collisions, atomic and checked files."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from hncf.encoders.cache import CacheError, FeatureCache, content_hash, content_hashes

DIM = 4


class CountingEncoder:
    """A deterministic fake encoder: vector = f(content, salt); records every call it receives."""

    def __init__(self, contents, salt=0.0, dim=DIM):
        self.contents = list(contents)
        self.salt = salt
        self.dim = dim
        self.calls = []  # one array of positions per call

    def vector(self, content: str) -> np.ndarray:
        seed = int(hashlib.sha1(content.encode()).hexdigest()[:8], 16)
        return (np.random.default_rng(seed).standard_normal(self.dim) + self.salt).astype(np.float32)

    def __call__(self, positions):
        self.calls.append(np.asarray(positions).copy())
        return np.stack([self.vector(self.contents[p]) for p in positions])

    @property
    def computed(self) -> int:
        return int(sum(len(c) for c in self.calls))


def _files(root):
    return sorted(p.name for p in root.iterdir())


def _tmp_files(root):
    return [p for p in root.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


def test_content_hash_is_sha1_of_text_or_bytes():
    assert content_hash("Toy Story") == hashlib.sha1("Toy Story".encode("utf-8")).hexdigest()
    assert content_hash("Amélie") == hashlib.sha1("Amélie".encode("utf-8")).hexdigest()
    raw = bytes(range(256))
    assert content_hash(raw) == hashlib.sha1(raw).hexdigest() == content_hash(bytearray(raw))
    assert content_hash("a") != content_hash("a ")
    hs = content_hashes(["a", b"b"])
    assert hs.shape == (2,) and list(hs) == [content_hash("a"), content_hash(b"b")]
    with pytest.raises(TypeError, match="str or bytes, got int"):
        content_hash(5)


def test_second_call_computes_nothing(tmp_path):
    texts = [f"movie {k}" for k in range(10)]
    ids, hashes = np.arange(100, 110), content_hashes(texts)
    enc = CountingEncoder(texts)
    cache = FeatureCache(tmp_path / "cache")
    first = cache.get_or_compute("enc-a", ids, hashes, enc, batch_size=4, progress=False)
    assert first.shape == (10, DIM) and first.dtype == np.float32
    np.testing.assert_array_equal(first, np.stack([enc.vector(t) for t in texts]))
    assert enc.computed == 10 and [len(c) for c in enc.calls] == [4, 4, 2]

    again = FeatureCache(tmp_path / "cache")  # a fresh object reads what the first one wrote
    second = again.get_or_compute("enc-a", ids, hashes, enc, progress=False)
    assert enc.computed == 10 and len(enc.calls) == 3
    np.testing.assert_array_equal(second, first)
    # Any order and any subset come from the cache too.
    sub = again.get_or_compute("enc-a", ids[[7, 2, 2]], hashes[[7, 2, 2]], enc, progress=False)
    np.testing.assert_array_equal(sub, first[[7, 2, 2]])
    assert enc.computed == 10
    st = again.stats()
    assert st["encoders"]["enc-a"]["items"] == 10 and st["encoders"]["enc-a"]["dim"] == DIM
    assert (st["requested"], st["hits"], st["computed"], st["compute_calls"]) == (13, 12, 0, 0)
    assert not _tmp_files(tmp_path / "cache")


def test_changed_content_recomputes_just_that_item(tmp_path):
    texts = [f"movie {k}" for k in range(6)]
    ids = [f"m{k}" for k in range(6)]
    enc = CountingEncoder(texts)
    cache = FeatureCache(tmp_path)
    old = cache.get_or_compute("enc", ids, content_hashes(texts), enc, progress=False)

    texts[3] = "movie 3, director's cut"
    enc2 = CountingEncoder(texts)
    new = cache.get_or_compute("enc", ids, content_hashes(texts), enc2, progress=False)
    assert len(enc2.calls) == 1 and enc2.calls[0].tolist() == [3]
    np.testing.assert_array_equal(new[3], enc2.vector("movie 3, director's cut"))
    assert not np.allclose(new[3], old[3])
    np.testing.assert_array_equal(np.delete(new, 3, 0), np.delete(old, 3, 0))
    # The file holds the new vector (replaced, not duplicated) and a new id is appended.
    enc3 = CountingEncoder(texts + ["movie 6"])
    out = cache.get_or_compute("enc", ids + ["m6"], content_hashes(texts + ["movie 6"]), enc3, progress=False)
    assert enc3.calls[0].tolist() == [6]
    np.testing.assert_array_equal(out[:6], new)
    assert cache.stats()["encoders"]["enc"]["items"] == 7


def test_encoders_do_not_collide(tmp_path):
    texts = ["a", "b", "c"]
    hashes = content_hashes(texts)
    cache = FeatureCache(tmp_path)
    enc_a, enc_b = CountingEncoder(texts, salt=0.0), CountingEncoder(texts, salt=10.0, dim=6)
    name_a = "keras-hub:dir-0123456789abcdef:cls:128"
    name_b = "tfhub:https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4|x:cls:128"
    va = cache.get_or_compute(name_a, [1, 2, 3], hashes, enc_a, progress=False)
    vb = cache.get_or_compute(name_b, [1, 2, 3], hashes, enc_b, progress=False)
    assert enc_a.computed == 3 and enc_b.computed == 3 and vb.shape == (3, 6)
    np.testing.assert_array_equal(cache.get_or_compute(name_a, [1, 2, 3], hashes, enc_a, progress=False), va)
    np.testing.assert_array_equal(cache.get_or_compute(name_b, [1, 2, 3], hashes, enc_b, progress=False), vb)
    assert enc_a.computed == 3 and enc_b.computed == 3
    assert set(cache.stats()["encoders"]) == {name_a, name_b}
    assert len(_files(tmp_path)) == 2 and cache.path(name_a) != cache.path(name_b)


def test_ids_duplicates_and_validation(tmp_path):
    cache = FeatureCache(tmp_path)
    texts = ["x", "y", "x"]
    enc = CountingEncoder(texts)
    # Integer and string forms of an id are one item; a repeated id is computed once.
    out = cache.get_or_compute("e", [5, 6, 5], content_hashes(texts), enc, progress=False)
    assert enc.calls[0].tolist() == [0, 1]
    np.testing.assert_array_equal(out[0], out[2])
    cache.get_or_compute("e", ["5", "6"], content_hashes(texts[:2]), enc, progress=False)
    assert enc.computed == 2
    with pytest.raises(ValueError, match="item id '5' appears with different content hashes"):
        cache.get_or_compute("e", [5, 5], content_hashes(["x", "z"]), enc, progress=False)
    with pytest.raises(ValueError, match="2 ids but 1 content hashes"):
        cache.get_or_compute("e", [1, 2], ["h"], enc, progress=False)
    with pytest.raises(ValueError, match="returned shape \\(1, 4\\) for 2 item\\(s\\)"):
        cache.get_or_compute("e", [7, 8], ["h7", "h8"], lambda pos: np.zeros((1, DIM)), progress=False)
    with pytest.raises(ValueError, match="width 3, but the cache holds width 4"):
        cache.get_or_compute("e", [7], ["h7"], lambda pos: np.zeros((1, 3)), progress=False)
    with pytest.raises(ValueError, match="non-finite vector for item id '8'"):
        cache.get_or_compute("e", [7, 8], ["h7", "h8"],
                             lambda pos: np.array([[0.0] * DIM, [np.nan] * DIM]), progress=False)
    # None of the failed calls changed what is stored.
    assert cache.stats()["encoders"]["e"]["items"] == 2
    assert cache.get_or_compute("e", [], [], enc, progress=False).shape == (0, DIM)


def test_interrupted_computation_keeps_finished_batches(tmp_path):
    texts = [f"t{k}" for k in range(10)]
    hashes = content_hashes(texts)
    enc = CountingEncoder(texts)

    def failing(positions):
        if len(enc.calls) == 2:
            raise KeyboardInterrupt  # e.g. Ctrl-C during the third batch
        return enc(positions)

    cache = FeatureCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        cache.get_or_compute("e", range(10), hashes, failing, batch_size=3, progress=False)
    assert cache.stats()["encoders"]["e"]["items"] == 6
    enc2 = CountingEncoder(texts)
    out = cache.get_or_compute("e", range(10), hashes, enc2, batch_size=3, progress=False)
    assert sorted(np.concatenate(enc2.calls).tolist()) == [6, 7, 8, 9]
    np.testing.assert_array_equal(out, np.stack([enc.vector(t) for t in texts]))
    assert not _tmp_files(tmp_path)


def test_interrupted_write_leaves_the_previous_state(tmp_path, monkeypatch):
    texts = ["a", "b"]
    cache = FeatureCache(tmp_path)
    cache.get_or_compute("e", [1, 2], content_hashes(texts), CountingEncoder(texts), progress=False)
    path = cache.path("e")
    before = path.read_bytes()

    real_savez = np.savez

    def dying_savez(file, **arrays):
        real_savez(file, **arrays)
        file.truncate(50)  # half a file on disk ...
        raise OSError("No space left on device")  # ... and the process stops writing

    monkeypatch.setattr(np, "savez", dying_savez)
    with pytest.raises(OSError, match="No space left"):
        cache.get_or_compute("e", [3], content_hashes(["c"]), CountingEncoder(["c"]), progress=False)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert not _tmp_files(tmp_path)
    assert cache.stats()["encoders"]["e"]["items"] == 2


def test_corrupted_file_raises_clear_error_or_is_rebuilt(tmp_path):
    texts = ["a", "b", "c"]
    hashes = content_hashes(texts)
    enc = CountingEncoder(texts)
    FeatureCache(tmp_path).get_or_compute("e", [1, 2, 3], hashes, enc, progress=False)
    path = FeatureCache(tmp_path).path("e")
    path.write_bytes(path.read_bytes()[:120])  # a partial file, e.g. copied while being written

    with pytest.raises(CacheError, match=f"cannot read cache file {path}.*Delete the file.*on_corrupt='rebuild'"):
        FeatureCache(tmp_path).get_or_compute("e", [1, 2, 3], hashes, enc, progress=False)
    assert "<unreadable" in next(iter(FeatureCache(tmp_path).stats()["encoders"]))

    rebuilt = FeatureCache(tmp_path, on_corrupt="rebuild")
    enc2 = CountingEncoder(texts)
    with pytest.warns(UserWarning, match="it will be rebuilt"):
        out = rebuilt.get_or_compute("e", [1, 2, 3], hashes, enc2, progress=False)
    assert enc2.computed == 3
    np.testing.assert_array_equal(out, np.stack([enc.vector(t) for t in texts]))
    assert FeatureCache(tmp_path).stats()["encoders"]["e"]["items"] == 3  # readable again

    # A well-formed file that does not hold what it should is refused as well.
    np.savez(path, format=np.int64(1), encoder_name=np.str_("e"), ids=np.array(["1", "2"]),
             hashes=np.array(["h"]), vectors=np.zeros((2, DIM), np.float32))
    with pytest.raises(CacheError, match="is inconsistent"):
        FeatureCache(tmp_path).get_or_compute("e", [1], ["h"], enc, progress=False)
    with pytest.raises(ValueError, match="on_corrupt must be"):
        FeatureCache(tmp_path, on_corrupt="ignore")


def test_cache_with_a_real_text_encoder(tmp_path, tiny_text_preset):
    from hncf.encoders.text import load_text_encoder

    # The preset alone: this file need not pay for the SavedModels of tiny_text_models.
    enc = load_text_encoder(str(tiny_text_preset[0]), pooling="mean", sequence_length=12)
    texts = np.array(["A movie about a boy and his dog", "the cat", "Dogs and cats.", "film"], dtype=object)
    ids = np.array([10, 20, 30, 40])
    calls = []

    def compute(positions):
        calls.append(len(positions))
        return enc.encode(texts[positions], ids=ids[positions], progress=False)

    cache = FeatureCache(tmp_path)
    got = cache.get_or_compute(enc.name, ids, content_hashes(texts), compute, progress=False)
    np.testing.assert_allclose(got, enc.encode(texts, progress=False), atol=1e-6)
    cache.get_or_compute(enc.name, ids, content_hashes(texts), compute, progress=False)
    assert calls == [4]
    assert list(cache.stats()["encoders"]) == [enc.name]
