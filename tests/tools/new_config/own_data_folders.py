"""Tiny synthetic "own data" folders: grayscale cells with 0/255 masks, RGB scenes with colour masks,
4-band TIFF fields with 0/1 masks. Each object is bright in the images, so a few iterations learn it.

A helper module, not a conftest: its name must be unique in the suite."""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

SCENE_COLOURS = {"blob": (255, 0, 0), "square": (0, 255, 0)}  # RGB colours of the colour-coded masks


def _blob(rng: np.random.RandomState, size: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.randint(size // 4, 3 * size // 4, size=2)
    r = rng.randint(size // 8, size // 5)
    return (yy - cy) ** 2 + (xx - cx) ** 2 < r * r


def make_cells(root: Path, n: int = 12, size: int = 64, seed: int = 0) -> Path:
    """``root/images/cellNN.png`` grayscale with a bright blob; ``root/masks/cellNN.png`` 0/255."""
    rng = np.random.RandomState(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        m = _blob(rng, size)
        img = (rng.rand(size, size) * 40 + 30 + m * 150).astype(np.uint8)
        assert cv2.imwrite(str(root / "images" / f"cell{i:02d}.png"), img)
        assert cv2.imwrite(str(root / "masks" / f"cell{i:02d}.png"), (m * 255).astype(np.uint8))
    return root


def make_scenes(root: Path, n: int = 12, size: int = 64, seed: int = 1) -> Path:
    """``root/images/sNN.jpg`` colour; ``root/masks/sNN.png`` colour-coded: black, red blob, green square."""
    rng = np.random.RandomState(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        blob = _blob(rng, size)
        cy, cx = size - 1 - np.argwhere(blob).mean(0).astype(int)
        square = (np.abs(yy - cy) < size // 6) & (np.abs(xx - cx) < size // 6) & ~blob
        img = rng.rand(size, size, 3) * 30 + 100
        img[blob] = (20, 20, 230) + rng.rand(int(blob.sum()), 3) * 20  # BGR: red
        img[square] = (20, 230, 20) + rng.rand(int(square.sum()), 3) * 20  # green
        mask = np.zeros((size, size, 3), np.uint8)
        mask[blob] = SCENE_COLOURS["blob"][::-1]
        mask[square] = SCENE_COLOURS["square"][::-1]
        assert cv2.imwrite(str(root / "images" / f"s{i:02d}.jpg"), img.astype(np.uint8))
        assert cv2.imwrite(str(root / "masks" / f"s{i:02d}.png"), mask)
    return root


def make_fields(root: Path, n: int = 12, size: int = 48, seed: int = 2) -> Path:
    """``root/images/tNN.tif`` 4-band uint16 (the object shows in band 4 only); masks 0/1 png."""
    import tifffile

    rng = np.random.RandomState(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        m = _blob(rng, size)
        bands = rng.rand(size, size, 4) * 400 + 300
        bands[..., 3] += m * 2000
        tifffile.imwrite(str(root / "images" / f"t{i:02d}.tif"), bands.astype(np.uint16), photometric="minisblack",
                         planarconfig="contig")
        assert cv2.imwrite(str(root / "masks" / f"t{i:02d}.png"), m.astype(np.uint8))
    return root


def per_class_iou(output: str) -> dict[str, float]:
    """Class -> IoU from the per-class table that ``seglab test`` prints."""
    table = output[output.rindex("| Class"):]
    rows = re.findall(r"^\|\s*(\S+)\s*\|\s*([\w.]+)\s*\|", table, flags=re.M)
    return {name: float(iou) for name, iou in rows if name != "Class"}
