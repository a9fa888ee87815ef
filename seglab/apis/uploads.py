"""Check uploaded image bytes before decoding them: format, dimensions from the header, completeness.

A server must refuse a small file that claims 100000 x 100000 pixels before a decoder allocates them,
so the width and height are read from the header of each format OpenCV decodes here (PNG, JPEG, BMP,
WebP, TIFF) and compared with a pixel budget first; only then is the image decoded.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["ImageHeader", "UploadError", "check_image", "read_header"]


class UploadError(ValueError):
    """An upload the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says: ``format`` (e.g. 'png'), ``width``, ``height``, file ``suffix``."""

    format: str
    width: int
    height: int
    suffix: str


def _png(data: bytes) -> ImageHeader:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise UploadError("truncated PNG: the file ends before its IHDR header")
    width, height = struct.unpack(">II", data[16:24])
    # IEND is the last chunk (12 bytes: length, type, CRC); without it the file was cut short.
    if data[-12:-4] != b"\x00\x00\x00\x00IEND":
        raise UploadError("truncated PNG: the file does not end with the IEND chunk")
    return ImageHeader("png", width, height, ".png")


# Start-of-frame markers hold the frame size; C4 (Huffman tables), C8 (reserved) and CC (arithmetic
# conditioning) share the range but are not frames.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> ImageHeader:
    pos, size = 2, None
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise UploadError(f"corrupt JPEG: expected a marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker in _SOF:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            size = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data follows, then EOI
            if size is None:
                raise UploadError("corrupt JPEG: scan data before any frame header")
            # 0xFF inside entropy-coded data is always followed by 0x00 or a restart marker, so an
            # end-of-image marker after the scan start means the file was not cut short.
            if data.find(b"\xff\xd9", pos + 2 + length) < 0:
                raise UploadError("truncated JPEG: no end-of-image marker after the scan data")
            return ImageHeader("jpeg", size[0], size[1], ".jpg")
        pos += 2 + length
    raise UploadError("truncated JPEG: the file ends before its scan data")


def _bmp(data: bytes) -> ImageHeader:
    if len(data) < 26:
        raise UploadError("truncated BMP: the file ends inside its header")
    file_size, _, _, header_size = struct.unpack("<IIII", data[2:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    if len(data) < file_size:
        raise UploadError(f"truncated BMP: {len(data)} bytes of the {file_size} its header announces")
    return ImageHeader("bmp", abs(width), abs(height), ".bmp")  # negative height: rows stored top-down


def _webp(data: bytes) -> ImageHeader:
    if len(data) < 30:
        raise UploadError("truncated WebP: the file ends inside its header")
    riff_size = struct.unpack("<I", data[4:8])[0]
    if len(data) < riff_size + 8:
        raise UploadError(f"truncated WebP: {len(data)} bytes of the {riff_size + 8} its header announces")
    chunk = data[12:16]
    if chunk == b"VP8X":  # extended: 24-bit width-1 and height-1
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
    elif chunk == b"VP8L":  # lossless: 14-bit width-1 and height-1 after the signature byte
        bits = int.from_bytes(data[21:25], "little")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b"VP8 ":  # lossy: 14-bit sizes after the 3-byte frame tag and the start code
        width, height = (v & 0x3FFF for v in struct.unpack("<HH", data[26:30]))
    else:
        raise UploadError(f"unsupported WebP chunk {chunk!r}")
    return ImageHeader("webp", width, height, ".webp")


def _tiff(data: bytes) -> ImageHeader:
    order = "<" if data[:2] == b"II" else ">"
    if len(data) < 8:
        raise UploadError("truncated TIFF: the file ends inside its header")
    if struct.unpack(order + "H", data[2:4])[0] == 43:
        raise UploadError("BigTIFF is not supported by the server; send a classic TIFF, PNG or JPEG", 415)
    ifd = struct.unpack(order + "I", data[4:8])[0]
    if ifd + 2 > len(data):
        raise UploadError("truncated TIFF: the first image directory lies past the end of the file")
    count = struct.unpack(order + "H", data[ifd : ifd + 2])[0]
    tags: dict[int, int] = {}
    for i in range(count):
        entry = data[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
        if len(entry) < 12:
            raise UploadError("truncated TIFF: the file ends inside its first image directory")
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
            tags[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), entry[8:10] if kind == 3 else entry[8:12])[0]
    if 256 not in tags or 257 not in tags:
        raise UploadError("corrupt TIFF: the first image directory has no width or height")
    return ImageHeader("tiff", tags[256], tags[257], ".tif")


_FORMATS = (
    (b"\x89PNG\r\n\x1a\n", _png),
    (b"\xff\xd8\xff", _jpeg),
    (b"BM", _bmp),
    (b"II*\x00", _tiff),
    (b"MM\x00*", _tiff),
    (b"II+\x00", _tiff),
    (b"MM\x00+", _tiff),
)


def read_header(data: bytes) -> ImageHeader:
    """Format and size of an image from its header bytes alone; raises UploadError (400/415) if it has none."""
    if not data:
        raise UploadError("empty upload: send the image file's bytes as the request body")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    for magic, parse in _FORMATS:
        if data.startswith(magic):
            return parse(data)
    raise UploadError("not an image: the upload is none of PNG, JPEG, BMP, WebP or TIFF "
                      f"(it starts with {data[:8]!r})", 415)


def check_image(data: bytes, max_pixels: int) -> tuple[ImageHeader, np.ndarray]:
    """Header, then decode: ``(header, image)`` of an upload within ``max_pixels``; raises UploadError.

    ``image`` is what ``cv2.imdecode(..., IMREAD_UNCHANGED)`` gives (any channels and depth); the size
    limit is checked on the header before anything is decoded.
    """
    header = read_header(data)
    if header.width < 1 or header.height < 1:
        raise UploadError(f"invalid {header.format.upper()}: its header gives size {header.width}x{header.height}")
    if header.width * header.height > max_pixels:
        raise UploadError(f"image too large: {header.width}x{header.height} = {header.width * header.height} "
                          f"pixels, the server accepts at most {max_pixels} (seglab serve --max-pixels)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise UploadError(f"corrupt {header.format.upper()}: OpenCV could not decode it")
    if image.shape[:2] != (header.height, header.width):
        raise UploadError(f"corrupt {header.format.upper()}: header says {header.width}x{header.height}, "
                          f"the decoded image is {image.shape[1]}x{image.shape[0]}")
    return header, image
