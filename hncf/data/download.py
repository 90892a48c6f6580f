"""Download a file once into a cache directory, verified by checksum.

The file is streamed into a temporary file in the cache directory and moved
into place with :func:`os.replace` only after its checksum verifies, so an
interrupted or corrupted download never leaves a file under the final name.
``urllib`` handles ``http(s)://`` and ``file://`` URLs alike, which lets the
tests "download" a zip they wrote themselves.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

_log = logging.getLogger(__name__)
CACHE_ENV = "HNCF_CACHE_DIR"
_CHUNK = 1 << 20


class DownloadError(OSError):
    """A file could not be downloaded (network error, HTTP error, truncated body)."""


class ChecksumError(DownloadError):
    """A downloaded or cached file does not have the expected checksum."""


def default_cache_dir() -> Path:
    """``$HNCF_CACHE_DIR`` if set, else ``~/.cache/hncf``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hncf"


def file_hashes(path: str | os.PathLike, algorithms=("md5", "sha256")) -> dict[str, str]:
    """Hex digests of a file for each named hashlib algorithm, read in one pass."""
    hashers = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            for h in hashers.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashers.items()}


def _expected(md5: str | None, sha256: str | None) -> dict[str, str]:
    return {a: v.strip().lower() for a, v in (("md5", md5), ("sha256", sha256)) if v}


def _mismatch(expected: dict[str, str], actual: dict[str, str]) -> tuple[str, str, str] | None:
    for algo, want in expected.items():
        if actual[algo] != want:
            return algo, want, actual[algo]
    return None


def verify_checksum(path: str | os.PathLike, *, md5: str | None = None,
                    sha256: str | None = None, url: str | None = None) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the given md5/sha256 (either may be None)."""
    expected = _expected(md5, sha256)
    if not expected:
        return
    bad = _mismatch(expected, file_hashes(path, tuple(expected)))
    if bad:
        algo, want, got = bad
        source = f" (from {url})" if url else ""
        raise ChecksumError(
            f"{algo} mismatch for {path}{source}: expected {want}, got {got}"
        )


def _filename_from_url(url: str) -> str:
    name = Path(urllib.parse.urlparse(url).path).name
    if not name:
        raise ValueError(f"cannot derive a file name from URL {url!r}; pass fname=")
    return name


def fetch(url: str, cache_dir: str | os.PathLike | None = None, *, md5: str | None = None,
          sha256: str | None = None, fname: str | None = None, progress: bool = True,
          timeout: float = 60.0) -> Path:
    """Download ``url`` into ``cache_dir`` once and return the local path.

    A cached file is re-verified against the given checksums; if it no longer
    matches (corrupted, or an older release) it is deleted, with a one-line
    warning naming it, and downloaded again; if that download fails the error
    says the cached copy was corrupt and where a good copy can be put. Without
    checksums a cached file is trusted as is. Raises :class:`DownloadError`
    when the download fails and :class:`ChecksumError` when the fresh download
    does not match; in both cases no file is left under the final name and the
    temporary file is removed.
    """
    cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    fname = fname or _filename_from_url(url)
    target = cache_dir / fname
    expected = _expected(md5, sha256)

    if target.exists():
        if not expected:
            return target
        bad = _mismatch(expected, file_hashes(target, tuple(expected)))
        if bad is None:
            return target
        algo, want, got = bad
        # Logged, not warnings.warn: a warning prints an internal source line under the message.
        _log.warning("hncf: warning: cached %s is corrupt or from another release (%s %s, expected %s); "
                     "deleted it, downloading %s again", target, algo, got, want, url)
        target.unlink(missing_ok=True)
        try:
            return _download(url, target, expected, progress, timeout)
        except DownloadError as e:
            if isinstance(e, ChecksumError):
                raise
            raise DownloadError(
                f"the cached {target} was corrupt and has been deleted; "
                f"downloading it again failed: {e}. A copy fetched by hand can be put at {target} "
                f"(it is checked against the same checksum)"
            ) from e
    return _download(url, target, expected, progress, timeout)


def _download(url: str, target: Path, expected: dict[str, str], progress: bool, timeout: float) -> Path:
    """Stream ``url`` into a temporary file beside ``target``, verify it, then ``os.replace`` it into place."""
    cache_dir, fname = target.parent, target.name
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=f".{fname}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        hashers = {a: hashlib.new(a) for a in expected}
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)
            except (urllib.error.URLError, OSError, ValueError) as e:
                reason = getattr(e, "reason", e)
                raise DownloadError(f"could not download {url}: {reason}") from e
            with response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                received = 0
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                          desc=fname, disable=not progress) as bar:
                    while True:
                        try:
                            chunk = response.read(_CHUNK)
                        except OSError as e:
                            raise DownloadError(
                                f"download of {url} failed after {received} bytes: {e}"
                            ) from e
                        if not chunk:
                            break
                        out.write(chunk)
                        for h in hashers.values():
                            h.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
        if total is not None and received != total:
            raise DownloadError(
                f"download of {url} is truncated: got {received} of {total} bytes"
            )
        actual = {a: h.hexdigest() for a, h in hashers.items()}
        bad = _mismatch(expected, actual)
        if bad:
            algo, want, got = bad
            raise ChecksumError(
                f"{algo} mismatch for {url} (would be cached as {target}): "
                f"expected {want}, got {got}; the file was not kept"
            )
        os.replace(tmp, target)
    except BaseException:
        # BaseException so that Ctrl-C mid-download also removes the partial file.
        tmp.unlink(missing_ok=True)
        raise
    return target
