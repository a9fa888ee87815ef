"""Shared helpers for the dataset converters: archives, image I/O, colour -> index, tiling."""
from __future__ import annotations

import importlib
import os
import tarfile
import zipfile
from collections.abc import Iterable, Sequence
from types import ModuleType

import cv2
import numpy as np

__all__ = [
    "binary_mask",
    "colour_to_index",
    "extract",
    "find_files",
    "imread",
    "imwrite",
    "materialise",
    "optional_import",
    "read_lines",
    "require_files",
    "tile_boxes",
    "write_lines",
]


def extract(archive: str, dst: str) -> str:
    """Unpack a .zip/.tar/.tar.gz/.tgz into ``dst`` (members may not escape it); return ``dst``."""
    os.makedirs(dst, exist_ok=True)
    root = os.path.realpath(dst)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if not os.path.realpath(os.path.join(dst, name)).startswith(root + os.sep):
                    raise ValueError(f"{archive}: member '{name}' would be written outside {dst}; refusing")
            zf.extractall(dst)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                if not os.path.realpath(os.path.join(dst, member.name)).startswith(root + os.sep) or \
                        member.issym() or member.islnk():
                    raise ValueError(f"{archive}: member '{member.name}' is a link or escapes {dst}; refusing")
            tf.extractall(dst)
    else:
        raise ValueError(f"{archive}: not a zip or tar archive")
    return dst


def materialise(src: str, tmp_dir: str) -> str:
    """A folder holding ``src``'s files: ``src`` itself if it is a folder, else its unpacked archive."""
    if os.path.isdir(src):
        return src
    if not os.path.isfile(src):
        raise FileNotFoundError(f"{src}: no such file or folder")
    return extract(src, os.path.join(tmp_dir, os.path.basename(src).split(".")[0]))


def find_files(root: str, suffixes: Sequence[str], contains: str | None = None) -> list[str]:
    """All files under ``root`` (recursive, sorted) whose lower-cased name ends with one of ``suffixes``."""
    suffixes = tuple(s.lower() for s in suffixes)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            if name.lower().endswith(suffixes) and (contains is None or contains in os.path.join(dirpath, name)):
                out.append(os.path.join(dirpath, name))
    return sorted(out)


def require_files(paths: Iterable[str], what: str, where: str, hint: str) -> list[str]:
    """``paths`` as a list, or a FileNotFoundError naming what was expected where."""
    paths = list(paths)
    if not paths:
        raise FileNotFoundError(f"no {what} found in {where}; {hint}")
    return paths


def imread(path: str, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """Read any image cv2 can decode (GIF too, through the video reader on OpenCV < 4.7); BGR order."""
    buf = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(buf, flags) if buf.size else None
    if img is None and path.lower().endswith(".gif"):
        cap = cv2.VideoCapture(path)
        ok, frame = cap.read()
        cap.release()
        if ok:
            img = frame if flags != cv2.IMREAD_GRAYSCALE else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    if img is None:
        raise ValueError(f"{path}: cannot decode the image (corrupt, or a format this OpenCV cannot read)")
    return img


def imwrite(path: str, img: np.ndarray) -> str:
    """Write ``img`` (creating folders); return ``path``."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    ok, buf = cv2.imencode(os.path.splitext(path)[1] or ".png", img)
    if not ok:
        raise OSError(f"cannot encode {path}")
    buf.tofile(path)
    return path


def binary_mask(img: np.ndarray) -> np.ndarray:
    """Vessel annotation (H, W[, C]) 0/255 -> (H, W) uint8 0/1 (first channel, threshold 128, as MMSeg)."""
    first = img if img.ndim == 2 else img[:, :, 0]
    return (first // 128).astype(np.uint8)


def colour_to_index(rgb: np.ndarray, palette: Sequence[Sequence[int]], default: int = 255) -> np.ndarray:
    """Colour-coded label (H, W, 3) RGB -> (H, W) uint8 index into ``palette``; unknown colours -> ``default``."""
    packed = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    out = np.full(rgb.shape[:2], default, np.uint8)
    for idx, (r, g, b) in enumerate(palette):
        out[packed == ((r << 16) | (g << 8) | b)] = idx
    return out


def tile_boxes(h: int, w: int, size: int, stride: int) -> list[tuple[int, int, int, int]]:
    """Windows (x0, y0, x1, y1) of ``size`` every ``stride`` px covering (h, w); the last row/column
    is shifted back to end at the border (so no padding); an image smaller than ``size`` gives one box."""
    if size <= 0 or stride <= 0:
        raise ValueError(f"tile size and stride must be positive, got {size} and {stride}")

    def starts(n: int) -> list[int]:
        if n <= size:
            return [0]
        s = list(range(0, n - size + 1, stride))
        if s[-1] + size < n:
            s.append(n - size)
        return s

    return [(x, y, min(x + size, w), min(y + size, h)) for y in starts(h) for x in starts(w)]


def optional_import(module: str, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency, or raise an ImportError naming the package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{purpose} needs the '{module}' package, which is not installed: pip install {extra}") from exc


def read_lines(path: str) -> list[str]:
    """Non-empty stripped lines of a text file (an image list), or a FileNotFoundError naming it."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing")
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def write_lines(path: str, lines: Iterable[str]) -> str:
    """Write one item per line (creating folders); return ``path``."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.writelines(line + "\n" for line in lines)
    return path
