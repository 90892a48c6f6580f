import dataclasses
import hashlib
import io
import urllib.error
import urllib.request

import pytest

from hncf.data import download as dl
from hncf.data import movielens as ml
from hncf.data.download import ChecksumError, DownloadError, fetch, verify_checksum
from hncf.data.synthetic import write_synthetic_movielens


@pytest.fixture
def served_zip(tmp_path):
    """A synthetic ml-100k zip in the GroupLens layout, reachable by a file:// URL."""
    zip_path = tmp_path / "server" / "ml-100k.zip"
    write_synthetic_movielens(tmp_path / "src" / "ml-100k", "ml-100k", zip_path=zip_path)
    data = zip_path.read_bytes()
    return {
        "path": zip_path,
        "url": zip_path.as_uri(),
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": data,
    }


def _cache_files(cache):
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_fetch_downloads_and_verifies(served_zip, tmp_path):
    cache = tmp_path / "cache"
    got = fetch(served_zip["url"], cache, md5=served_zip["md5"], sha256=served_zip["sha256"], progress=False)
    assert got == cache / "ml-100k.zip"
    assert got.read_bytes() == served_zip["bytes"]
    assert _cache_files(cache) == ["ml-100k.zip"]  # no temporary file left


def test_fetch_reuses_verified_cache_without_network(served_zip, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    fetch(served_zip["url"], cache, md5=served_zip["md5"], progress=False)

    def no_network(*args, **kwargs):
        raise AssertionError("fetch went to the network for a cached file")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    got = fetch(served_zip["url"], cache, md5=served_zip["md5"], progress=False)
    assert got.read_bytes() == served_zip["bytes"]


def test_fetch_checksum_mismatch_leaves_nothing(served_zip, tmp_path):
    cache = tmp_path / "cache"
    wrong = "0" * 32
    with pytest.raises(ChecksumError) as err:
        fetch(served_zip["url"], cache, md5=wrong, progress=False)
    msg = str(err.value)
    assert served_zip["url"] in msg and wrong in msg and served_zip["md5"] in msg
    assert "ml-100k.zip" in msg
    assert _cache_files(cache) == []


def test_fetch_sha256_mismatch(served_zip, tmp_path):
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        fetch(served_zip["url"], tmp_path / "c", sha256="f" * 64, progress=False)


def test_fetch_replaces_corrupted_cache(served_zip, tmp_path, caplog, recwarn):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "ml-100k.zip").write_bytes(b"truncated")
    bad_md5 = hashlib.md5(b"truncated").hexdigest()
    with caplog.at_level("WARNING", logger="hncf"):
        got = fetch(served_zip["url"], cache, md5=served_zip["md5"], progress=False)
    assert got.read_bytes() == served_zip["bytes"]
    # One line naming the file, no Python warning (whose display shows an internal source line).
    assert [r.getMessage() for r in caplog.records] == [(
        f"hncf: warning: cached {cache / 'ml-100k.zip'} is corrupt or from another release (md5 {bad_md5}, "
        f"expected {served_zip['md5']}); deleted it, downloading {served_zip['url']} again"
    )]
    assert len(recwarn) == 0
    assert _cache_files(cache) == ["ml-100k.zip"]


def test_corrupt_cache_offline_says_what_happened_and_what_to_do(served_zip, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "ml-100k.zip").write_bytes(served_zip["bytes"][:1000])

    def offline(*args, **kwargs):
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DownloadError) as err:
        fetch("https://files.grouplens.org/datasets/movielens/ml-100k.zip", cache, md5=served_zip["md5"],
              progress=False)
    msg = str(err.value)
    assert msg.startswith(f"the cached {cache / 'ml-100k.zip'} was corrupt and has been deleted; downloading "
                          f"it again failed: could not download https://")
    assert "Name or service not known" in msg
    assert f"A copy fetched by hand can be put at {cache / 'ml-100k.zip'}" in msg
    assert _cache_files(cache) == []  # the corrupt file is gone, no partial file either


def test_load_movielens_with_corrupt_cached_zip_downloads_again(served_zip, tmp_path, monkeypatch, caplog):
    release = dataclasses.replace(ml.get_release("ml-100k"), url=served_zip["url"],
                                  md5=served_zip["md5"], sha256=served_zip["sha256"])
    monkeypatch.setitem(ml.MOVIELENS_RELEASES, "ml-100k", release)
    monkeypatch.delenv("HNCF_DATA_DIR", raising=False)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "ml-100k.zip").write_bytes(served_zip["bytes"][:-100])  # a truncated earlier download
    with caplog.at_level("WARNING", logger="hncf"):
        data = ml.load_movielens("ml-100k", cache_dir=cache, progress=False)
    assert len(data.interactions) == 600
    assert "is corrupt or from another release" in caplog.text
    assert sorted(p.name for p in cache.iterdir()) == ["ml-100k", "ml-100k.zip"]


def test_interrupted_extraction_leaves_nothing_half_written(served_zip, tmp_path, monkeypatch):
    import zipfile

    release = dataclasses.replace(ml.get_release("ml-100k"), url=served_zip["url"], md5=served_zip["md5"],
                                  sha256=None)
    monkeypatch.setitem(ml.MOVIELENS_RELEASES, "ml-100k", release)
    real_extractall = zipfile.ZipFile.extractall

    def interrupted(self, path=None, members=None, pwd=None):
        real_extractall(self, path, members=self.namelist()[:2], pwd=pwd)  # some files out, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(zipfile.ZipFile, "extractall", interrupted)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        ml.download_movielens("ml-100k", cache, progress=False)
    assert _cache_files(cache) == ["ml-100k.zip"]  # the verified zip only: no extraction folder
    monkeypatch.setattr(zipfile.ZipFile, "extractall", real_extractall)
    out = ml.download_movielens("ml-100k", cache, progress=False)
    assert (out / "u.data").is_file() and _cache_files(cache) == ["ml-100k", "ml-100k.zip"]


def test_verified_zip_that_is_not_a_zip_is_deleted(tmp_path, monkeypatch):
    fake = tmp_path / "server" / "ml-1m.zip"
    fake.parent.mkdir()
    fake.write_bytes(b"PK but not really a zip")
    _patch_release(monkeypatch, "ml-1m", fake)
    with pytest.raises(ml.SchemaError, match=r"ml-1m\.zip \(from file://.*\) is not a valid zip .*deleted it"):
        ml.download_movielens("ml-1m", tmp_path / "cache", progress=False)
    assert _cache_files(tmp_path / "cache") == []


def test_fetch_missing_url_raises_download_error(tmp_path):
    url = (tmp_path / "nope.zip").as_uri()
    with pytest.raises(DownloadError, match="could not download .*nope.zip"):
        fetch(url, tmp_path / "cache", progress=False)
    assert _cache_files(tmp_path / "cache") == []


class _Response(io.BytesIO):
    """A fake HTTP response: declared length and a body that may fail midway."""

    def __init__(self, body, length, fail_after=None, exc=None):
        super().__init__(body)
        self.headers = {"Content-Length": str(length)}
        self.fail_after, self.exc, self.sent = fail_after, exc, 0

    def read(self, n=-1):
        if self.fail_after is not None and self.sent >= self.fail_after:
            raise self.exc
        chunk = super().read(min(n, 4))
        self.sent += len(chunk)
        return chunk


def test_fetch_interrupted_download_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(
        urllib.request, "urlopen",
        lambda url, timeout: _Response(b"0123456789" * 3, 30, fail_after=8, exc=KeyboardInterrupt()),
    )
    with pytest.raises(KeyboardInterrupt):
        fetch("https://example.invalid/x.zip", tmp_path / "cache", md5="0" * 32, progress=False)
    assert _cache_files(tmp_path / "cache") == []


def test_fetch_connection_reset_is_download_error(tmp_path, monkeypatch):
    monkeypatch.setattr(
        urllib.request, "urlopen",
        lambda url, timeout: _Response(b"0123456789", 10, fail_after=4, exc=ConnectionResetError("reset")),
    )
    with pytest.raises(DownloadError, match="failed after 4 bytes"):
        fetch("https://example.invalid/x.zip", tmp_path / "cache", progress=False)
    assert _cache_files(tmp_path / "cache") == []


def test_fetch_truncated_body_is_download_error(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _Response(b"abc", 100))
    with pytest.raises(DownloadError, match="truncated: got 3 of 100 bytes"):
        fetch("https://example.invalid/x.zip", tmp_path / "cache", progress=False)
    assert _cache_files(tmp_path / "cache") == []


def test_fetch_with_progress_bar(served_zip, tmp_path):
    got = fetch(served_zip["url"], tmp_path / "c", md5=served_zip["md5"], fname="renamed.zip")
    assert got.name == "renamed.zip"


def test_default_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HNCF_CACHE_DIR", str(tmp_path / "mine"))
    assert dl.default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("HNCF_CACHE_DIR")
    assert dl.default_cache_dir().parts[-2:] == (".cache", "hncf")


def test_verify_checksum(served_zip):
    verify_checksum(served_zip["path"], md5=served_zip["md5"].upper(), sha256=served_zip["sha256"])
    with pytest.raises(ChecksumError, match=f"expected {'1' * 32}, got {served_zip['md5']}"):
        verify_checksum(served_zip["path"], md5="1" * 32)


def test_download_movielens_from_file_url(served_zip, tmp_path, monkeypatch):
    release = dataclasses.replace(ml.get_release("ml-100k"), url=served_zip["url"],
                                  md5=served_zip["md5"], sha256=served_zip["sha256"])
    monkeypatch.setitem(ml.MOVIELENS_RELEASES, "ml-100k", release)
    cache = tmp_path / "cache"
    monkeypatch.delenv("HNCF_DATA_DIR", raising=False)
    data = ml.load_movielens("ml-100k", cache_dir=cache, progress=False)
    assert len(data.interactions) == 600
    assert (cache / "ml-100k" / "u.data").is_file()
    # A second load neither downloads nor re-extracts.
    marker = cache / "ml-100k" / ml._EXTRACTED_MARKER
    stamp = marker.stat().st_mtime_ns
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("network used"))
    again = ml.load_movielens("ml-100k", cache_dir=cache, progress=False)
    assert marker.stat().st_mtime_ns == stamp
    assert again.interactions.equals(data.interactions)
    assert sorted(p.name for p in cache.iterdir()) == ["ml-100k", "ml-100k.zip"]


def test_download_movielens_checksum_mismatch(served_zip, tmp_path, monkeypatch):
    release = dataclasses.replace(ml.get_release("ml-100k"), url=served_zip["url"], md5="0" * 32, sha256=None)
    monkeypatch.setitem(ml.MOVIELENS_RELEASES, "ml-100k", release)
    with pytest.raises(ChecksumError):
        ml.download_movielens("ml-100k", tmp_path / "cache", progress=False)
    assert _cache_files(tmp_path / "cache") == []


def test_download_uses_published_md5_when_none_pinned(tmp_path, monkeypatch):
    server = tmp_path / "server"
    zip_path = server / "ml-latest-small.zip"
    write_synthetic_movielens(tmp_path / "src", "ml-latest-small", zip_path=zip_path)
    md5 = hashlib.md5(zip_path.read_bytes()).hexdigest()
    (server / "ml-latest-small.zip.md5").write_text(f"MD5 (ml-latest-small.zip) = {md5}\n")
    release = dataclasses.replace(ml.get_release("ml-latest-small"), url=zip_path.as_uri())
    assert release.md5 is None
    monkeypatch.setitem(ml.MOVIELENS_RELEASES, "ml-latest-small", release)
    out = ml.download_movielens("ml-latest-small", tmp_path / "cache", progress=False)
    assert (out / "ratings.csv").is_file()
    assert (out / ml._EXTRACTED_MARKER).read_text().strip() == md5

    # A published checksum that disagrees with the zip stops the download.
    (server / "ml-latest-small.zip.md5").write_text(f"MD5 (ml-latest-small.zip) = {'a' * 32}\n")
    with pytest.raises(ChecksumError):
        ml.download_movielens("ml-latest-small", tmp_path / "cache2", progress=False)
    assert not (tmp_path / "cache2" / "ml-latest-small.zip").exists()


def test_registry_pins_every_fixed_release():
    for name in ("ml-100k", "ml-1m", "ml-20m", "ml-25m"):
        r = ml.get_release(name)
        assert r.url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        assert len(r.md5) == 32 and len(r.sha256) == 64
    assert ml.get_release("ml-latest-small").md5 is None
    assert ml.get_release("ml-latest-small").md5_url.endswith("ml-latest-small.zip.md5")


def _patch_release(monkeypatch, name, zip_path):
    md5 = hashlib.md5(zip_path.read_bytes()).hexdigest()
    release = dataclasses.replace(ml.get_release(name), url=zip_path.as_uri(), md5=md5, sha256=None)
    monkeypatch.setitem(ml.MOVIELENS_RELEASES, name, release)


def test_download_zip_without_top_folder(tmp_path, monkeypatch):
    import zipfile

    src = write_synthetic_movielens(tmp_path / "src", "ml-1m")
    zip_path = tmp_path / "flat.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        for name in ("ratings.dat", "movies.dat"):
            zf.write(src / name, name)
    _patch_release(monkeypatch, "ml-1m", zip_path)
    out = ml.download_movielens("ml-1m", tmp_path / "cache", progress=False)
    assert out == tmp_path / "cache" / "ml-1m" and (out / "ratings.dat").is_file()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["flat.zip", "ml-1m"]


def test_download_rejects_zip_escaping_the_cache(tmp_path, monkeypatch):
    import zipfile

    zip_path = tmp_path / "evil.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("ml-1m/ratings.dat", "1::2::3::4\n")
        zf.writestr("../escaped.txt", "x")
    _patch_release(monkeypatch, "ml-1m", zip_path)
    with pytest.raises(ml.SchemaError, match="would extract outside"):
        ml.download_movielens("ml-1m", tmp_path / "cache", progress=False)
    assert not (tmp_path / "escaped.txt").exists()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["evil.zip"]
