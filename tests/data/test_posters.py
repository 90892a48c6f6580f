import hashlib
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hncf.data.movielens import read_movielens_dir
from hncf.data.posters import (
    PosterIndex,
    PosterReport,
    empty_poster_ids,
    load_posters,
    poster_bytes_hash,
    poster_coverage,
)
from hncf.data.schema import SchemaError

VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)

# Solid colours are exact after any resize, so expected pixels need no image library.
SOLID = {2: (10, 200, 30), 3: (50, 100, 150), 4: (77, 77, 77), 12: (128, 128, 128)}


def _jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95, **kw)
    return buf.getvalue()


@pytest.fixture
def poster_dir(tmp_path):
    """A poster folder with every kind of good and bad file, keyed by movieId."""
    d = tmp_path / "posters"
    d.mkdir()
    # 1: an RGB JPEG gradient, 20 wide x 30 high (orientation matters).
    y, x = np.mgrid[0:30, 0:20]
    grad = np.stack([x * 12, y * 8, (x + y) * 5], axis=-1).astype(np.uint8)
    Image.fromarray(grad).save(d / "1.jpg", quality=95)
    Image.new("RGB", (12, 18), SOLID[2]).save(d / "2.png")
    Image.new("RGB", (9, 14), SOLID[3]).save(d / "3.jpg", format="PNG")  # a PNG named .jpg
    Image.new("L", (10, 10), 77).save(d / "4.png")  # grayscale
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[:, :4] = (255, 0, 0, 255)  # left half opaque red, right half fully transparent
    Image.fromarray(rgba, mode="RGBA").save(d / "5.png")
    (d / "6.jpg").write_bytes(_jpeg_bytes(Image.new("CMYK", (16, 16), (0, 255, 255, 0))))  # red in CMYK
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([0, 0, 255] + [0, 255, 0] * 255)
    pal.info["transparency"] = 1
    pal.paste(1, (0, 4, 8, 8))  # bottom half transparent
    pal.save(d / "7.gif", transparency=1)
    (d / "8.jpg").write_bytes(b"")  # empty
    full = _jpeg_bytes(Image.fromarray(grad))
    (d / "9.jpg").write_bytes(full[: len(full) // 2])  # truncated
    (d / "10.jpg").write_bytes(b"this is not an image at all" * 10)  # undecodable
    # 11: no file at all.
    Image.fromarray(np.full((6, 6), 128 * 257, dtype=np.uint16)).save(d / "12.png")  # 16-bit gray
    (d / "notes.txt").write_text("not a poster")
    (d / "cover.jpg").write_bytes(b"stem is not an id")
    return d


def test_index_maps_movie_ids_to_files(poster_dir):
    index = PosterIndex(poster_dir)
    assert len(index) == 12  # 1-10, 12 and "cover"; notes.txt has another extension
    assert 1 in index and 11 not in index and "1" in index
    # "cover" is an id too (datasets may have text ids), so the ids come back as text.
    assert set(index.item_ids.tolist()) == {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "12", "cover"}
    (poster_dir / "cover.jpg").unlink()
    assert PosterIndex(poster_dir).item_ids.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    paths = index.paths([2, 11, 7])
    assert paths[0].endswith("2.png") and paths[1] is None and paths[2].endswith("7.gif")
    assert "PosterIndex(" in repr(index)


def test_load_posters_values_and_shapes(poster_dir):
    ids = [2, 3, 4, 11, 2]
    batch = load_posters(PosterIndex(poster_dir), ids, size=(7, 5), mode="raw", progress=False)
    assert batch.images.shape == (5, 7, 5, 3) and batch.images.dtype == np.float32
    assert batch.mask.tolist() == [True, True, True, False, True]
    assert batch.item_ids.tolist() == ids
    np.testing.assert_array_equal(batch.images[0], np.broadcast_to(np.float32(SOLID[2]), (7, 5, 3)))
    np.testing.assert_array_equal(batch.images[1], np.broadcast_to(np.float32(SOLID[3]), (7, 5, 3)))
    np.testing.assert_array_equal(batch.images[2], np.full((7, 5, 3), 77, np.float32))
    assert not batch.images[3].any()
    np.testing.assert_array_equal(batch.images[4], batch.images[0])  # repeated id, same pixels
    r = batch.report
    assert (r.requested, r.loaded, r.missing, r.unreadable, r.mislabelled) == (4, 3, 1, 0, 1)
    assert r.missing_ids == (11,) and r.mislabelled_ids == (3,)
    assert "3.jpg" in r.notes[0] and "PNG" in r.notes[0]


def test_resize_is_height_width_and_matches_pil(poster_dir):
    index = PosterIndex(poster_dir)
    for interp, resample in (("bilinear", Image.Resampling.BILINEAR), ("nearest", Image.Resampling.NEAREST)):
        got = load_posters(index, [1], size=(11, 6), mode="raw", interpolation=interp, progress=False).images[0]
        with Image.open(poster_dir / "1.jpg") as im:
            want = np.asarray(im.convert("RGB").resize((6, 11), resample), dtype=np.float32)
        np.testing.assert_array_equal(got, want)
    # No resize: the JPEG's pixels, close to the gradient it was written from.
    same = load_posters(index, [1], size=(30, 20), mode="raw", progress=False).images[0]
    y, x = np.mgrid[0:30, 0:20]
    grad = np.stack([x * 12, y * 8, (x + y) * 5], axis=-1).astype(np.float32)
    assert np.abs(same - grad).mean() < 3.0


@pytest.mark.parametrize("mode", ["paper", "imagenet", "raw"])
def test_modes(poster_dir, mode):
    index = PosterIndex(poster_dir)
    batch = load_posters(index, [2, 11, 4], size=(4, 4), mode=mode, progress=False)
    raw = np.stack([np.broadcast_to(np.float32(SOLID[2]), (4, 4, 3)), np.full((4, 4, 3), 77, np.float32)])
    if mode == "paper":
        want = raw / 255.0
    elif mode == "imagenet":
        want = raw[..., ::-1] - VGG_MEAN_BGR  # caffe style: BGR, ImageNet means subtracted
    else:
        want = raw
    np.testing.assert_allclose(batch.images[[0, 2]], want, rtol=0, atol=1e-4)
    assert not batch.images[1].any()  # a missing poster stays all zero in every mode
    assert batch.images.flags["C_CONTIGUOUS"]
    if mode == "paper":
        assert batch.images.max() <= 1.0


def test_colour_modes_become_rgb(poster_dir):
    batch = load_posters(PosterIndex(poster_dir), [5, 6, 7, 12], size=(8, 8), mode="raw", progress=False)
    assert batch.mask.all()
    rgba, cmyk, gif, gray16 = batch.images
    np.testing.assert_array_equal(rgba[:, :3], np.broadcast_to(np.float32([255, 0, 0]), (8, 3, 3)))
    np.testing.assert_array_equal(rgba[:, 5:], np.full((8, 3, 3), 255, np.float32))  # transparent -> white
    assert cmyk[..., 0].min() > 200 and cmyk[..., 1:].max() < 60  # C=0 M=Y=255 K=0 is red
    np.testing.assert_array_equal(gif[:3], np.broadcast_to(np.float32([0, 0, 255]), (3, 8, 3)))
    np.testing.assert_array_equal(gif[5:], np.full((3, 8, 3), 255, np.float32))
    np.testing.assert_array_equal(gray16, np.full((8, 8, 3), 128, np.float32))  # 16-bit scaled, not clipped


def test_bad_files_never_raise(poster_dir):
    ids = [8, 9, 10, 11, 1]
    batch = load_posters(PosterIndex(poster_dir), ids, size=(5, 5), mode="imagenet", progress=False)
    assert batch.mask.tolist() == [False, False, False, False, True]
    assert not batch.images[:4].any()
    r = batch.report
    # The zero-byte 8.jpg counts as missing (as poster_coverage says) and is named in the notes.
    assert (r.requested, r.loaded, r.missing, r.unreadable, r.mislabelled) == (5, 1, 2, 2, 0)
    assert r.unreadable_ids == (9, 10) and r.missing_ids == (8, 11)
    notes = " | ".join(r.notes)
    assert f"item 8: {poster_dir / '8.jpg'}: empty file (0 bytes)" in notes and "9.jpg: cannot decode" in notes
    assert "10.jpg: not an image format PIL knows (starts with b'this is ')" in notes
    assert "11" not in notes  # no file at all: nothing to name
    line = r.summary()
    assert "1 of 5 loaded" in line and "2 unreadable (ids 9, 10)" in line and "2 missing (ids 8, 11)" in line
    assert "e.g. item 8: " in line and "8.jpg: empty file" in line
    assert "\n" not in line


def test_index_names_zero_byte_files(poster_dir):
    index = PosterIndex(poster_dir)
    assert index.empty_files == (str(poster_dir / "8.jpg"),)
    assert "empty_files=1" in repr(index)
    assert empty_poster_ids(index, [11, 8, 1, 8, 9]) == [8]  # no file (11) and a truncated one (9) are not empty


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with one tiny data chunk (a decompression bomb's shape)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 100))
            + chunk(b"IEND", b""))


def test_huge_posters_are_refused_before_decoding(tmp_path):
    import warnings

    from hncf.data.posters import MAX_POSTER_PIXELS

    d = tmp_path / "posters"
    d.mkdir()
    (d / "1.png").write_bytes(_png_header_only(12_000, 12_000))  # 144 MP: PIL only warns about it
    (d / "2.png").write_bytes(_png_header_only(20_000, 20_000))  # 400 MP: PIL refuses by itself
    Image.new("RGB", (20, 10), (1, 2, 3)).save(d / "3.png")
    assert MAX_POSTER_PIXELS == 40_000_000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning reaches the user
        batch = load_posters(PosterIndex(d), [1, 2, 3], size=(4, 4), mode="raw", progress=False, workers=1)
    assert batch.mask.tolist() == [False, False, True] and not batch.images[:2].any()
    r = batch.report
    assert (r.loaded, r.unreadable, r.unreadable_ids) == (1, 2, (1, 2))
    notes = " | ".join(r.notes)
    assert (f"item 1: {d / '1.png'}: 12000 x 12000 pixels (144.0 MP) is above the 40 MP limit for a poster "
            f"(max_pixels); not decoded") in notes
    assert f"item 2: {d / '2.png'}: above the 40 MP limit for a poster" in notes
    # The cap is a parameter: a 200-pixel image is refused under a 100-pixel cap.
    small = load_posters(PosterIndex(d), [3], size=(4, 4), progress=False, max_pixels=100)
    assert not small.mask[0] and "20 x 10 pixels (0.0 MP) is above the 0.0001 MP limit" in small.report.notes[0]


def test_threads_give_the_same_batch(poster_dir):
    index = PosterIndex(poster_dir)
    ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    one = load_posters(index, ids, size=(9, 9), workers=1, progress=False)
    many = load_posters(index, ids, size=(9, 9), workers=3, progress=True)
    np.testing.assert_array_equal(one.images, many.images)
    np.testing.assert_array_equal(one.mask, many.mask)
    assert one.report == many.report


def test_reports_merge():
    a = PosterReport(requested=4, loaded=2, missing=2, missing_ids=(1, 2), notes=("x",))
    b = PosterReport(requested=6, loaded=3, missing=1, unreadable=1, mislabelled=1, missing_ids=(3,),
                     unreadable_ids=(9,), mislabelled_ids=(7,), notes=("y",))
    c = PosterReport(requested=5, missing=5, missing_ids=(10, 11, 12, 13, 14))
    total = a + b + c
    assert (total.requested, total.loaded, total.missing, total.unreadable, total.mislabelled) == (15, 5, 8, 1, 1)
    assert total.missing_ids == (1, 2, 3, 10, 11)  # the first MAX_EXAMPLES
    assert total.notes == ("x", "y")
    assert PosterReport.merge([a, b, c]) == total == sum([a, b, c])
    assert PosterReport.merge([]) == PosterReport()
    assert "8 missing (ids 1, 2, 3, 10, 11, ...)" in total.summary()


def test_coverage_and_hashes(poster_dir):
    index = PosterIndex(poster_dir)
    ids = np.array([1, 8, 11, 2, 1])
    np.testing.assert_array_equal(poster_coverage(index, ids), [True, False, False, True, True])
    hashes = poster_bytes_hash(index, ids)
    assert hashes[0] == hashlib.sha1((poster_dir / "1.jpg").read_bytes()).hexdigest()
    assert hashes[3] == hashlib.sha1((poster_dir / "2.png").read_bytes()).hexdigest()
    assert hashes[1] == "" and hashes[2] == "" and hashes[4] == hashes[0]
    (poster_dir / "2.png").unlink()  # gone after the scan: no poster, no crash
    assert not poster_coverage(index, [2])[0] and poster_bytes_hash(index, [2]) == [""]
    batch = load_posters(index, [2], size=(4, 4), progress=False)
    assert not batch.mask[0] and batch.report.missing == 1


def test_index_by_imdb_and_tmdb(tmp_path):
    d = tmp_path / "p"
    d.mkdir()
    colours = {"tt0114709.jpg": (255, 0, 0), "113497.png": (0, 255, 0), "862.png": (0, 0, 255), "5.png": (9, 9, 9)}
    for name, c in colours.items():
        Image.new("RGB", (4, 4), c).save(d / name, format="PNG")
    items = pd.DataFrame({
        "item": [10, 20, 30],
        "imdb_id": ["0114709", "0113497", ""],
        "tmdb_id": pd.array([862, pd.NA, 5], dtype="Int64"),
    })
    by_imdb = PosterIndex(d, key="imdb_id", items=items)
    batch = load_posters(by_imdb, [10, 20, 30], size=(2, 2), mode="raw", progress=False)
    assert batch.mask.tolist() == [True, True, False]
    assert batch.images[0, 0, 0].tolist() == [255, 0, 0] and batch.images[1, 0, 0].tolist() == [0, 255, 0]
    assert batch.report.mislabelled == 1  # tt0114709.jpg holds a PNG
    assert by_imdb.n_unmatched_files == 2  # 862.png and 5.png are not IMDb ids of these items

    by_tmdb = PosterIndex(d, key="tmdb_id", items=items)
    batch = load_posters(by_tmdb, [10, 20, 30], size=(2, 2), mode="raw", progress=False)
    assert batch.mask.tolist() == [True, False, True]
    assert batch.images[0, 0, 0].tolist() == [0, 0, 255] and batch.images[2, 0, 0].tolist() == [9, 9, 9]


def test_errors(tmp_path, poster_dir):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        PosterIndex(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown poster key 'title'"):
        PosterIndex(poster_dir, key="title")
    with pytest.raises(ValueError, match="needs items="):
        PosterIndex(poster_dir, key="tmdb_id")
    with pytest.raises(SchemaError, match=r"missing column\(s\) \['imdb_id'\]"):
        PosterIndex(poster_dir, key="imdb_id", items=pd.DataFrame({"item": [1]}))
    index = PosterIndex(poster_dir)
    with pytest.raises(ValueError, match="unknown poster mode 'caffe'"):
        load_posters(index, [1], mode="caffe")
    with pytest.raises(ValueError, match="one-dimensional"):
        load_posters(index, [[1, 2]])
    with pytest.raises(ValueError, match="height, width"):
        load_posters(index, [1], size=(0, 4))


def test_empty_request(poster_dir):
    batch = load_posters(PosterIndex(poster_dir), np.array([], dtype=np.int64), size=(4, 4), progress=False)
    assert batch.images.shape == (0, 4, 4, 3) and batch.mask.shape == (0,)
    assert batch.report == PosterReport()


@pytest.mark.real_data
def test_real_posters(real_dataset):
    folder = real_dataset("posters-ml") / "images"
    items = read_movielens_dir("ml-latest-small", real_dataset("ml-latest-small")).items
    index = PosterIndex(folder)
    assert len(index) == 3872
    covered = poster_coverage(index, items["item"])
    assert covered.sum() == 2947  # as the data README says

    # Every poster decodes; 3575.jpg is a PNG and still loads, counted as mislabelled.
    batch = load_posters(index, index.item_ids, size=(32, 32), mode="raw", progress=False)
    assert batch.mask.all() and batch.report.unreadable == 0
    assert batch.report.mislabelled_ids == (3575,) and batch.report.mislabelled == 1
    assert batch.images.max() > 200 and batch.images.reshape(len(batch), -1).std(axis=1).min() > 0

    with Image.open(folder / "1.jpg") as im:
        want = np.asarray(im.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR), dtype=np.float32)
    np.testing.assert_array_equal(batch.images[np.flatnonzero(batch.item_ids == 1)[0]], want)
    assert poster_bytes_hash(index, [1])[0] == hashlib.sha1((folder / "1.jpg").read_bytes()).hexdigest()
