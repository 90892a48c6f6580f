"""Movie posters: a folder of image files keyed by movie id, decoded into model-ready batches.

A poster folder holds one file per movie, named ``<key>.<ext>`` where the key is the
MovieLens ``movieId`` (``images/1.jpg`` for Toy Story) or, through the items frame,
the movie's IMDb or TMDB id (``tt0114709.jpg`` / ``0114709.jpg``, ``862.jpg``).
:class:`PosterIndex` scans the folder once and maps raw item ids to files;
:func:`load_posters` decodes a list of items into one float32 batch.

Files are decoded by content, not by name (a PNG called ``.jpg`` still loads and is
counted as *mislabelled*), converted to RGB and resized to ``size``. A missing,
empty, truncated, undecodable or oversized (above :data:`MAX_POSTER_PIXELS`) file
never raises: it becomes an all-zero image with ``mask`` False and is counted in the
:class:`PosterReport` (an empty file as missing, named in the report's notes). Posters are not missing
at random (old and obscure films lack them far more often), so the mask is data:
:func:`poster_coverage` gives it without decoding anything.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm.auto import tqdm

from hncf.data.schema import IMDB_ID, ITEM, TMDB_ID, SchemaError

POSTER_KEYS = ("movieId", IMDB_ID, TMDB_ID)
POSTER_MODES = ("paper", "imagenet", "raw")
# Earlier extensions win when one movie has several files (1.jpg and 1.png).
POSTER_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")
_EXTENSION_FORMAT = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".gif": "GIF", ".bmp": "BMP",
}
INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
# The largest poster decoded: 40 megapixels (e.g. 5000 x 8000) is far beyond any real poster
# (TMDB's originals are about 2000 x 3000) and takes 120 MB as RGB; bigger files are refused
# unread as "unreadable", never handed to PIL's decoder (a 144 MP PNG of a few kB is a bomb).
MAX_POSTER_PIXELS = 40_000_000
# Progress bars only when a call decodes enough files to take noticeable time.
_PROGRESS_MIN_FILES = 500


def _canonical_keys(values, strip_tt: bool = False) -> pd.Series:
    """Ids as comparable strings: digit strings lose leading zeros ("0114709" -> "114709").

    File stems, MovieLens ids (int), IMDb ids ("tt0114709" or "0114709") and TMDB ids
    (nullable Int64) all meet in this form; missing values become "".
    """
    s = pd.Series(values)
    if s.dtype.kind == "f" and (s.dropna() % 1 == 0).all():
        # Integer-valued floats (ids that went through a NaN-carrying column) -> ints.
        s = s.astype("Int64")
    text = s.astype(object).where(s.notna(), "").astype(str).str.strip()
    if strip_tt:
        text = text.str.replace(r"^tt", "", regex=True, case=False)
    digits = text.str.fullmatch(r"\d+")
    if digits.any():
        text = text.where(~digits, text.str.lstrip("0").replace("", "0"))
    return text.reset_index(drop=True)


class PosterIndex:
    """Which poster file belongs to which movie, from one scan of ``directory``.

    ``key`` says what the file names are: ``"movieId"`` (the raw item id itself),
    ``"imdb_id"`` or ``"tmdb_id"`` (looked up through ``items``, a frame with the
    ``item`` column and that id column, such as ``load_movielens(...).items``).
    Files whose stem matches no movie are ignored (counted in ``n_unmatched_files``);
    ``empty_files`` lists the movies' zero-byte files (they count as missing posters).
    """

    def __init__(self, directory: str | os.PathLike, key: str = "movieId",
                 items: pd.DataFrame | None = None,
                 extensions: Sequence[str] = POSTER_EXTENSIONS):
        self.directory = Path(directory).expanduser()
        if key not in POSTER_KEYS:
            raise ValueError(f"unknown poster key {key!r}; expected one of {POSTER_KEYS}")
        if not self.directory.is_dir():
            raise FileNotFoundError(f"poster folder {self.directory} not found (or not a folder)")
        self.key = key
        exts = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)

        names = [e.name for e in os.scandir(self.directory) if e.is_file()]
        files = pd.DataFrame({"name": pd.Series(names, dtype=object)})
        files["ext"] = files["name"].str.extract(r"(\.[^.]+)$", expand=False).str.lower()
        files = files[files["ext"].isin(exts)].copy()
        stems = files["name"].str.replace(r"\.[^.]+$", "", regex=True)
        files["stem"] = _canonical_keys(stems.to_numpy(), strip_tt=key == IMDB_ID).to_numpy()
        files["rank"] = files["ext"].map({e: i for i, e in enumerate(exts)})
        files = files[files["stem"] != ""].sort_values(["stem", "rank", "name"], kind="stable")
        self.n_duplicate_files = int(files["stem"].duplicated().sum())
        files = files.drop_duplicates("stem")
        by_key = pd.Series(
            (str(self.directory) + os.sep + files["name"]).to_numpy(dtype=object),
            index=pd.Index(files["stem"].to_numpy()), dtype=object,
        )

        if key == "movieId":
            paths = by_key
            self.n_unmatched_files = 0
        else:
            if items is None:
                raise ValueError(
                    f"poster key {key!r} needs items= (a frame with {ITEM!r} and {key!r} columns) to "
                    f"map movies to files"
                )
            missing = [c for c in (ITEM, key) if c not in items.columns]
            if missing:
                raise SchemaError(
                    f"items frame for poster key {key!r}: missing column(s) {missing}; found {list(items.columns)}"
                )
            item_keys = _canonical_keys(items[ITEM].to_numpy())
            file_keys = _canonical_keys(items[key].to_numpy(), strip_tt=key == IMDB_ID)
            found = by_key.reindex(file_keys.to_numpy())
            has = found.notna().to_numpy() & (file_keys != "").to_numpy()
            paths = pd.Series(found.to_numpy()[has], index=pd.Index(item_keys.to_numpy()[has]), dtype=object)
            paths = paths[~paths.index.duplicated()]
            self.n_unmatched_files = int((~by_key.index.isin(file_keys)).sum())
        self._paths = paths
        self._lookup = pd.Index(paths.index)
        # Zero-byte files count as missing everywhere; keep their names so reports can show them.
        self.empty_files = tuple(sorted(p for p in paths.to_numpy(dtype=object) if _size(p) == 0))

    def __len__(self) -> int:
        return len(self._paths)

    def __contains__(self, item_id) -> bool:
        return bool(self._lookup.get_indexer(_canonical_keys([item_id]))[0] >= 0)

    def __repr__(self) -> str:
        return (f"PosterIndex({str(self.directory)!r}, key={self.key!r}, movies_with_file={len(self):,}, "
                f"unmatched_files={self.n_unmatched_files:,}, duplicate_files={self.n_duplicate_files:,}, "
                f"empty_files={len(self.empty_files):,})")

    @property
    def item_ids(self) -> np.ndarray:
        """Raw ids of the movies that have a file (int64 when every id is an integer)."""
        ids = self._paths.index.to_numpy()
        if len(ids) and pd.Series(ids).str.fullmatch(r"\d+").all():
            return np.sort(ids.astype(np.int64))
        return np.sort(ids)

    def paths(self, item_ids) -> list[str | None]:
        """The poster file of each raw item id, or None when the movie has none."""
        pos = self._lookup.get_indexer(_canonical_keys(np.asarray(item_ids).ravel()))
        out = np.full(len(pos), None, dtype=object)
        found = pos >= 0
        out[found] = self._paths.to_numpy(dtype=object)[pos[found]]
        return out.tolist()


@dataclass(frozen=True)
class PosterReport:
    """What happened to the posters of one or more :func:`load_posters` calls.

    Counts are over the distinct item ids of each call. ``*_ids`` keep the first
    :attr:`MAX_EXAMPLES` ids of each kind and ``notes`` the first few messages
    (file path and reason) for unreadable, mislabelled and empty files (an empty
    file counts as missing).
    """

    requested: int = 0
    loaded: int = 0
    missing: int = 0
    unreadable: int = 0
    mislabelled: int = 0
    missing_ids: tuple = ()
    unreadable_ids: tuple = ()
    mislabelled_ids: tuple = ()
    notes: tuple = field(default=(), repr=False)

    MAX_EXAMPLES = 5

    def __add__(self, other: "PosterReport") -> "PosterReport":
        if not isinstance(other, PosterReport):
            return NotImplemented
        k = self.MAX_EXAMPLES
        return PosterReport(
            requested=self.requested + other.requested,
            loaded=self.loaded + other.loaded,
            missing=self.missing + other.missing,
            unreadable=self.unreadable + other.unreadable,
            mislabelled=self.mislabelled + other.mislabelled,
            missing_ids=(self.missing_ids + other.missing_ids)[:k],
            unreadable_ids=(self.unreadable_ids + other.unreadable_ids)[:k],
            mislabelled_ids=(self.mislabelled_ids + other.mislabelled_ids)[:k],
            notes=(self.notes + other.notes)[: 3 * k],
        )

    def __radd__(self, other):
        # So that sum(reports) works: sum starts from 0.
        if other == 0:
            return self
        return NotImplemented

    @classmethod
    def merge(cls, reports: Iterable["PosterReport"]) -> "PosterReport":
        """One report for many batches (the same as adding them)."""
        total = cls()
        for r in reports:
            total = total + r
        return total

    def summary(self) -> str:
        """One line for the run log, naming a few ids of each problem."""

        def part(n, what, ids):
            if not n:
                return f"0 {what}"
            shown = ", ".join(str(i) for i in ids)
            more = ", ..." if n > len(ids) else ""
            return f"{n:,} {what} (ids {shown}{more})"

        line = (f"posters: {self.loaded:,} of {self.requested:,} loaded; "
                f"{part(self.missing, 'missing', self.missing_ids)}; "
                f"{part(self.unreadable, 'unreadable', self.unreadable_ids)}; "
                f"{part(self.mislabelled, 'mislabelled', self.mislabelled_ids)}")
        if self.notes:
            line += f"; e.g. {self.notes[0]}"
        return line


@dataclass
class PosterBatch:
    """Decoded posters: ``images`` float32 [n, H, W, 3], ``mask`` bool [n] (True = real poster)."""

    images: np.ndarray
    mask: np.ndarray
    report: PosterReport
    item_ids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.mask)


def _to_rgb(im: Image.Image) -> Image.Image:
    """RGB whatever the mode; transparency is composited onto white, not black."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # 16-bit / 32-bit grayscale: PIL's convert("RGB") clips instead of scaling.
        arr = np.asarray(im, dtype=np.float32)
        if arr.max(initial=0) > 255:
            arr = arr / 257.0
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def _decode(path: str, size_hw: tuple[int, int], resample,
            max_pixels: int = MAX_POSTER_PIXELS) -> tuple[str, np.ndarray | None, str]:
    """(status, uint8 [H, W, 3] or None, detail) for one file; never raises."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return "missing", None, f"{path}: file disappeared after the folder was scanned"
    except OSError as e:
        return "unreadable", None, f"{path}: cannot read ({e})"
    if not data:
        return "missing", None, f"{path}: empty file (0 bytes)"
    h, w = size_hw
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format
            # Image.open reads the header only: refuse a huge image before any pixel is decoded.
            pixels = im.size[0] * im.size[1]
            if pixels > max_pixels:
                return "unreadable", None, (
                    f"{path}: {im.size[0]} x {im.size[1]} pixels ({pixels / 1e6:.1f} MP) is above the "
                    f"{max_pixels / 1e6:g} MP limit for a poster (max_pixels); not decoded")
            # No im.draft(): JPEG DCT scaling would make pixels depend on the target size.
            im.load()  # raises here on truncated or corrupt data
            rgb = _to_rgb(ImageOps.exif_transpose(im))
            arr = np.asarray(rgb.resize((w, h), resample), dtype=np.uint8)
    except UnidentifiedImageError:
        return "unreadable", None, f"{path}: not an image format PIL knows (starts with {data[:8]!r})"
    except Image.DecompressionBombError as e:  # PIL's own limit, raised before the size can be read
        return "unreadable", None, f"{path}: above the {max_pixels / 1e6:g} MP limit for a poster ({e})"
    except Exception as e:  # any decoder failure means "no poster", never a crash
        return "unreadable", None, f"{path}: cannot decode ({type(e).__name__}: {e})"
    ext = Path(path).suffix.lower()
    expected = _EXTENSION_FORMAT.get(ext)
    if expected is not None and fmt != expected:
        return "mislabelled", arr, f"{path}: a {fmt} file named {ext}"
    return "ok", arr, ""


def _preprocess(images: np.ndarray, mode: str) -> np.ndarray:
    """Apply ``mode`` in place where possible to a float32 0-255 batch."""
    if mode == "paper":
        images /= 255.0
        return images
    if mode == "imagenet":
        from keras.applications import vgg16  # lazy: importing keras loads TensorFlow

        # preprocess_input returns a channel-reversed view; make it an ordinary array.
        return np.ascontiguousarray(vgg16.preprocess_input(images), dtype=np.float32)
    return images


def _unique(item_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids = np.asarray(item_ids)
    if ids.ndim != 1:
        raise ValueError(f"item_ids must be one-dimensional, got shape {ids.shape}")
    codes, uniques = pd.factorize(pd.Series(ids), use_na_sentinel=False)
    return ids, codes, np.asarray(uniques)


def _plain(x):
    return x.item() if isinstance(x, np.generic) else x


def load_posters(index: PosterIndex, item_ids, size: tuple[int, int] = (224, 224), mode: str = "paper",
                 *, interpolation: str = "bilinear", workers: int | None = None,
                 progress: bool | None = None, max_pixels: int = MAX_POSTER_PIXELS) -> PosterBatch:
    """Decode the posters of ``item_ids`` (raw ids) into one batch.

    ``size`` is (height, width). ``mode``: ``"paper"`` divides by 255 (the paper's
    preprocessing), ``"imagenet"`` applies ``keras.applications.vgg16.preprocess_input``
    to 0-255 RGB (what ImageNet VGG16 weights expect), ``"raw"`` keeps 0-255 floats.
    Images are resized to ``size`` without keeping the aspect ratio, as the paper did.
    Items without a usable poster get an all-zero image and ``mask`` False in every
    mode. Each distinct id is decoded once, by ``workers`` threads (PIL releases the
    GIL while decoding). ``progress=None`` shows a bar from 500 files up. A 224x224
    poster takes 0.6 MB as float32, so load a whole catalogue in chunks. An image of more
    than ``max_pixels`` pixels is not decoded and counts as unreadable; an empty file
    counts as missing; both are named in the report's notes.
    """
    if mode not in POSTER_MODES:
        raise ValueError(f"unknown poster mode {mode!r}; expected one of {POSTER_MODES}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {interpolation!r}; expected one of {tuple(INTERPOLATIONS)}")
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be (height, width) with positive sides, got {size!r}")
    size_hw = (int(size[0]), int(size[1]))
    ids, codes, uniques = _unique(item_ids)
    paths = index.paths(uniques)
    n = len(uniques)

    images = np.zeros((n, *size_hw, 3), dtype=np.float32)
    mask = np.zeros(n, dtype=bool)
    todo = [j for j, p in enumerate(paths) if p is not None]
    status = np.full(n, "missing", dtype=object)
    details = [""] * n
    resample = INTERPOLATIONS[interpolation]

    def work(j: int) -> int:
        st, arr, detail = _decode(paths[j], size_hw, resample, max_pixels)
        status[j], details[j] = st, detail
        if arr is not None:
            images[j] = arr  # rows are disjoint, so threads never write the same memory
            mask[j] = True
        return j

    show = len(todo) >= _PROGRESS_MIN_FILES if progress is None else progress
    workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    with tqdm(total=len(todo), desc="posters", unit="img", disable=not show) as bar, warnings.catch_warnings():
        # Images above PIL's bomb threshold are above max_pixels too (unless it was raised past
        # PIL's): they are refused and reported, so PIL's warning would only repeat it.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if workers <= 1 or len(todo) < 2:
            for j in todo:
                work(j)
                bar.update()
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for _ in pool.map(work, todo):
                    bar.update()

    images = _preprocess(images, mode)
    if mode == "imagenet":
        images[~mask] = 0.0  # mean subtraction would turn blanks into -mean
    k = PosterReport.MAX_EXAMPLES
    kinds = {s: np.flatnonzero(status == s) for s in ("missing", "unreadable", "mislabelled")}
    # Missing with a detail: the file exists but is empty (or vanished after the scan).
    missing_noted = np.array([j for j in kinds["missing"] if details[j]][:k], dtype=np.int64)
    noted = np.sort(np.concatenate([kinds["unreadable"][:k], kinds["mislabelled"][:k], missing_noted]))
    report = PosterReport(
        requested=n,
        loaded=int(mask.sum()),
        missing=len(kinds["missing"]),
        unreadable=len(kinds["unreadable"]),
        mislabelled=len(kinds["mislabelled"]),
        missing_ids=tuple(_plain(uniques[j]) for j in kinds["missing"][:k]),
        unreadable_ids=tuple(_plain(uniques[j]) for j in kinds["unreadable"][:k]),
        mislabelled_ids=tuple(_plain(uniques[j]) for j in kinds["mislabelled"][:k]),
        notes=tuple(f"item {_plain(uniques[j])}: {details[j]}" for j in noted),
    )
    if n != len(ids):  # repeated ids: expand the decoded rows back to the request
        images, mask = images[codes], mask[codes]
    return PosterBatch(images=images, mask=mask, report=report, item_ids=ids)


def poster_coverage(index: PosterIndex, item_ids) -> np.ndarray:
    """bool [n]: which items have a non-empty poster file right now (nothing is decoded).

    Use it to study who has posters: coverage is far from random across years and
    popularity, so a model can learn "has a poster" as a feature by itself.
    """
    ids, codes, uniques = _unique(item_ids)
    has = np.array([p is not None and _size(p) > 0 for p in index.paths(uniques)], dtype=bool)
    return has[codes]


def empty_poster_ids(index: PosterIndex, item_ids) -> list:
    """The distinct ids among ``item_ids`` whose poster file exists but is empty (0 bytes), in order.

    Such a file counts as missing (nothing to decode); this names it, so a report can say which.
    """
    _, _, uniques = _unique(item_ids)
    empty = set(index.empty_files)
    return [_plain(i) for i, p in zip(uniques, index.paths(uniques)) if p in empty]


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def poster_bytes_hash(index: PosterIndex, item_ids) -> list[str]:
    """sha1 hex of each item's poster file bytes ("" when missing or empty).

    A feature cache keys poster vectors by this, so a replaced poster is re-encoded
    and a renamed one is not.
    """
    ids, codes, uniques = _unique(item_ids)

    def digest(path: str | None) -> str:
        if path is None:
            return ""
        try:
            data = Path(path).read_bytes()
        except OSError:
            return ""
        return hashlib.sha1(data).hexdigest() if data else ""

    hashes = [digest(p) for p in index.paths(uniques)]
    return [hashes[c] for c in codes.tolist()]


__all__ = [
    "INTERPOLATIONS", "MAX_POSTER_PIXELS", "POSTER_EXTENSIONS", "POSTER_KEYS", "POSTER_MODES", "PosterBatch", "PosterIndex",
    "PosterReport", "load_posters", "poster_bytes_hash", "poster_coverage",
]
