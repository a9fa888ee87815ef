"""The fast PNG paths (libspng for RGB images, OpenCV for greyscale masks) give exactly OpenCV's and
Pillow's arrays, and every file they do not handle goes to the general decoders unchanged."""
from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from _optional import require

from seglab.datasets.transforms import png
from seglab.datasets.transforms.loading import LoadImageFromFile, imread, read_mask

COLOR_TYPES = ["color", "color_ignore_orientation", "unchanged"]


def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def with_chunk(data: bytes, kind: bytes, payload: bytes) -> bytes:
    """``data`` with a chunk inserted right after IHDR."""
    return data[:33] + chunk(kind, payload) + data[33:]


def image(seed: int, shape: tuple[int, ...] = (37, 41, 3)) -> np.ndarray:
    img = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    img[5:15] = img[5:6]  # repeated rows: the encoders pick different filters for different rows
    return img


def encode_cv2(img: np.ndarray, level: int = 3, strategy: int = 0) -> bytes:
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, level, cv2.IMWRITE_PNG_STRATEGY, strategy])
    assert ok
    return buf.tobytes()


def encode_pillow(arr: np.ndarray, **kwargs) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(arr).save(out, format="PNG", **kwargs)
    return out.getvalue()


def decode_cv2(data: bytes, color_type: str) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), imread.__globals__["_CV2_FLAGS"][color_type])


def rgb_variants() -> list[tuple[str, bytes, np.ndarray]]:
    """(name, PNG bytes, BGR array) written by OpenCV and Pillow with different compression and filters."""
    out = []
    for seed, (level, strategy) in enumerate([(0, 0), (1, 0), (3, 1), (6, 2), (9, 3), (9, 4)]):
        bgr = image(seed)
        out.append((f"cv2-level{level}-strategy{strategy}", encode_cv2(bgr, level, strategy), bgr))
    bgr = image(7, (64, 3, 3))  # tall and narrow
    out.append(("pillow-optimize", encode_pillow(np.ascontiguousarray(bgr[..., ::-1]), optimize=True), bgr))
    bgr = image(8, (1, 300, 3))
    out.append(("pillow-level0", encode_pillow(np.ascontiguousarray(bgr[..., ::-1]), compress_level=0), bgr))
    return out


@pytest.mark.parametrize("name,data,bgr", rgb_variants(), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("color_type", COLOR_TYPES)
def test_libspng_decodes_rgb_pngs_as_opencv(name: str, data: bytes, bgr: np.ndarray, color_type: str):
    require("pyspng")
    assert png.png_layout(data) == png.RGB
    got = png.decode_png(data, color_type)
    assert got is not None and got.dtype == np.uint8 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, decode_cv2(data, color_type))
    np.testing.assert_array_equal(got, bgr)


def test_neutral_chunks_keep_the_fast_path_and_the_samples():
    """Text, pixel size, time and colour-space tags: neither OpenCV nor Pillow changes samples for them."""
    require("pyspng")
    bgr = image(3)
    data = encode_cv2(bgr)
    grey = image(4, (21, 33))
    grey_data = encode_cv2(grey)
    chunks = [
        (b"tEXt", b"Software\x00seglab"),
        (b"zTXt", b"Comment\x00\x00" + zlib.compress(b"a comment")),
        (b"iTXt", b"Title\x00\x00\x00en\x00\x00a title"),
        (b"pHYs", struct.pack(">IIB", 2835, 2835, 1)),
        (b"tIME", struct.pack(">HBBBBB", 2026, 11, 30, 12, 0, 0)),
        (b"gAMA", struct.pack(">I", 10000)),  # an extreme gamma: would show if a decoder applied it
        (b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)),
        (b"sRGB", b"\x00"),
        (b"iCCP", b"profile\x00\x00" + zlib.compress(b"not applied by any decoder here")),
    ]
    for kind, payload in chunks:
        tagged = with_chunk(data, kind, payload)
        assert png.png_layout(tagged) == png.RGB, kind
        np.testing.assert_array_equal(png.decode_png(tagged, "color"), decode_cv2(tagged, "color"))
        np.testing.assert_array_equal(png.decode_png(tagged, "color"), bgr)
        tagged_grey = with_chunk(grey_data, kind, payload)
        assert png.png_layout(tagged_grey) == png.GREY, kind


def exif_orientation(value: int) -> bytes:
    """A big-endian EXIF block with one IFD entry: Orientation = value."""
    return b"MM\x00*\x00\x00\x00\x08" + struct.pack(">HHHIHH", 1, 0x0112, 3, 1, value, 0) + b"\x00\x00\x00\x00"


def other_files() -> list[tuple[str, bytes]]:
    """PNGs the fast paths must leave to the general decoders."""
    bgr = image(5)
    data = encode_cv2(bgr)
    corrupt = bytearray(data)
    corrupt[60] ^= 0x40  # inside IDAT, the chunk CRC left stale
    ihdr = bytearray(data)
    ihdr[28] = 1  # interlace flag on, CRC fixed: only the header says Adam7
    struct.pack_into(">I", ihdr, 29, zlib.crc32(bytes(ihdr[12:29])))
    huge = bytearray(data)
    struct.pack_into(">II", huge, 16, 40000, 40000)  # 1.6 G pixels: past OpenCV's limit, which reports it
    struct.pack_into(">I", huge, 29, zlib.crc32(bytes(huge[12:29])))
    return [
        ("rgba", encode_cv2(np.dstack([bgr, bgr[..., :1]]))),
        ("16-bit", encode_cv2(bgr.astype(np.uint16) * 257)),
        ("grey-alpha", encode_pillow(np.dstack([bgr[..., 0], bgr[..., 1]]))),
        ("palette", _palette_png(bgr[..., 0] % 7)),
        ("tRNS", with_chunk(data, b"tRNS", struct.pack(">HHH", 1, 2, 3))),
        ("eXIf", with_chunk(data, b"eXIf", exif_orientation(6))),
        ("unknown-chunk", with_chunk(data, b"prVt", b"private")),
        ("interlaced-header", bytes(ihdr)),
        ("huge-header", bytes(huge)),
        ("bad-crc", bytes(corrupt)),
        ("truncated", data[: len(data) // 2]),
        ("not-png", b"GIF89a" + data[6:]),
    ]


def _palette_png(indices: np.ndarray) -> bytes:
    from PIL import Image

    im = Image.fromarray(indices.astype(np.uint8), mode="L").convert("P")
    im.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("name,data", other_files(), ids=lambda v: v if isinstance(v, str) else "")
def test_other_pngs_take_the_general_decoders(name: str, data: bytes, tmp_path):
    assert png.png_layout(data) is None
    assert png.decode_png(data, "color") is None
    path = str(tmp_path / "x.png")
    with open(path, "wb") as f:
        f.write(data)
    for color_type in COLOR_TYPES:
        try:
            want = decode_cv2(data, color_type)
        except cv2.error:  # past OpenCV's size limit: its own error, as before
            with pytest.raises(cv2.error):
                imread(path, color_type)
            continue
        if want is None:  # damaged files keep their error
            with pytest.raises(ValueError, match="cannot decode"):
                imread(path, color_type)
        else:
            np.testing.assert_array_equal(imread(path, color_type), want)


def test_imread_without_pyspng_gives_the_same_image(tmp_path, monkeypatch):
    bgr = image(6)
    path = str(tmp_path / "img.png")
    cv2.imwrite(path, bgr)
    monkeypatch.setattr(png, "_spng", None)  # as if the 'png' extra were not installed
    assert png.decode_png(encode_cv2(bgr), "color") is None
    out = LoadImageFromFile()(dict(img_path=path))
    np.testing.assert_array_equal(out["img"], bgr)
    assert out["ori_shape"] == (37, 41)


def test_greyscale_masks_read_as_pillow_reads_them(tmp_path):
    from PIL import Image

    seg = np.random.default_rng(9).integers(0, 12, (29, 43)).astype(np.uint8)
    seg[3:9] = 255
    for name, data in [("cv2", encode_cv2(seg, 9)), ("pillow", encode_pillow(seg)),
                       ("pillow-text", with_chunk(encode_pillow(seg), b"tEXt", b"k\x00v"))]:
        path = str(tmp_path / f"{name}.png")
        with open(path, "wb") as f:
            f.write(data)
        assert png.png_layout(data) == png.GREY
        got = read_mask(path, "pillow")
        assert got.dtype == np.uint8 and got.shape == seg.shape
        np.testing.assert_array_equal(got, np.array(Image.open(path)))
        np.testing.assert_array_equal(got, seg)
    # A palette mask still goes through Pillow, which gives its indices (not colours).
    path = str(tmp_path / "palette.png")
    with open(path, "wb") as f:
        f.write(_palette_png(seg % 7))
    np.testing.assert_array_equal(read_mask(path, "pillow"), seg % 7)
