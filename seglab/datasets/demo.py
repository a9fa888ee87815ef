"""DemoShapesDataset: a small synthetic dataset generated on first use, for tutorials and smoke training.

Scenes (``img_size`` square, default 96) show a smooth textured background with 2-4 objects:
circles, rectangles, triangles (solid colours whose hue ranges nearly touch; with shading, blur
and noise a hue-only classifier gets ~97% of shape pixels right, so shape and context still
matter) and stripe-textured regions (told apart by texture, any hue). Objects occlude each other.
Images and index masks are written once, deterministically (numpy + OpenCV only), in MMSeg's
layout ``img_dir/{train,val}/*.png`` and ``ann_dir/{train,val}/*.png``.
"""
from __future__ import annotations

import colorsys
import json
import os
import shutil
from typing import Any

import cv2
import numpy as np

from seglab.registry import DATASETS

from .basesegdataset import BaseSegDataset

__all__ = ["DemoShapesDataset", "generate_demo_shapes"]

CLASSES = ("background", "circle", "rectangle", "triangle", "stripes")
PALETTE = [[0, 0, 0], [220, 20, 60], [0, 160, 80], [30, 100, 230], [250, 200, 0]]
# Hue centres (0..1) for the solid shapes; +-HUE_SPREAD nearly reaches the neighbouring classes' ranges.
_HUE_CENTRE = {1: 0.0, 2: 1 / 3, 3: 2 / 3}
_HUE_SPREAD = 0.16
_VERSION = 4


def _rgb(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32) * 255


def _background(rng: np.random.RandomState, size: int) -> np.ndarray:
    """Smooth low-saturation colour texture (size, size, 3) float RGB."""
    grey = rng.uniform(70, 190)
    low = rng.uniform(-1, 1, size=(5, 5, 3)).astype(np.float32)
    tint = rng.uniform(-25, 25, size=3).astype(np.float32)
    field = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    return grey + tint + 40 * field


def _shape_mask(rng: np.random.RandomState, cls: int, size: int) -> np.ndarray:
    """A binary (size, size) uint8 mask of one object of class ``cls``."""
    m = np.zeros((size, size), np.uint8)
    cx, cy = rng.uniform(0.15, 0.85, size=2) * size
    r = rng.uniform(0.14, 0.28) * size
    if cls == 1:
        cv2.circle(m, (int(cx), int(cy)), int(r), 1, -1)
    elif cls == 2:
        w, h = r * rng.uniform(1.2, 2.0), r * rng.uniform(1.0, 1.8)
        angle = rng.uniform(0, 90)
        box = cv2.boxPoints(((float(cx), float(cy)), (float(w), float(h)), float(angle)))
        cv2.fillPoly(m, [np.round(box).astype(np.int32)], 1)
    elif cls == 3:
        start = rng.uniform(0, 2 * np.pi)
        angles = start + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3]) + rng.uniform(-0.3, 0.3, size=3)
        pts = np.stack([cx + 1.3 * r * np.cos(angles), cy + 1.3 * r * np.sin(angles)], 1)
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
    else:  # stripes: an ellipse-shaped region; its class comes from the texture drawn inside
        axes = (int(r * rng.uniform(1.0, 1.6)), int(r * rng.uniform(0.7, 1.2)))
        cv2.ellipse(m, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return m


def _paint(rng: np.random.RandomState, cls: int, size: int) -> np.ndarray:
    """The colour/texture (size, size, 3) float RGB of an object of class ``cls``."""
    if cls in _HUE_CENTRE:
        colour = _rgb(_HUE_CENTRE[cls] + rng.uniform(-_HUE_SPREAD, _HUE_SPREAD), rng.uniform(0.45, 0.95),
                      rng.uniform(0.55, 1.0))
        # A gentle linear shading, so a colour is never exactly constant.
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
        gx, gy = rng.uniform(-30, 30, size=2)
        return colour[None, None] + (gx * xx + gy * yy)[..., None]
    period = rng.uniform(5, 9)
    theta = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    phase = (xx * np.cos(theta) + yy * np.sin(theta)) / period
    on = (np.floor(phase) % 2).astype(np.float32)[..., None]
    hue = rng.uniform(0, 1)
    light, dark = _rgb(hue, rng.uniform(0.2, 0.8), rng.uniform(0.75, 1.0)), _rgb(hue, rng.uniform(0.2, 0.8), rng.uniform(0.15, 0.4))
    return on * light + (1 - on) * dark


def make_scene(seed: int, size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """One scene: image (size, size, 3) uint8 RGB and label map (size, size) uint8 in 0..4."""
    rng = np.random.RandomState(seed)
    img = _background(rng, size)
    label = np.zeros((size, size), np.uint8)
    n = rng.randint(2, 5)
    classes = rng.randint(1, len(CLASSES), size=n)
    for cls in classes:
        mask = _shape_mask(rng, int(cls), size).astype(bool)
        img[mask] = _paint(rng, int(cls), size)[mask]
        label[mask] = cls
    img = cv2.GaussianBlur(img, (3, 3), 0.8)
    img += rng.normal(0, 8, size=img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), label


def _marker(num_train: int, num_val: int, img_size: int, seed: int) -> dict:
    return dict(version=_VERSION, num_train=num_train, num_val=num_val, img_size=img_size, seed=seed)


def generate_demo_shapes(
    root: str = "data/demo_shapes", num_train: int = 400, num_val: int = 100, img_size: int = 96, seed: int = 0
) -> str:
    """Write the demo dataset under ``root`` unless an identical one is already there; return ``root``.

    Written to a temporary folder first and renamed, so an interrupted run never leaves a half dataset.
    """
    marker_path = os.path.join(root, "demo_shapes.json")
    want = _marker(num_train, num_val, img_size, seed)
    if os.path.isfile(marker_path):
        with open(marker_path) as f:
            if json.load(f) == want:
                return root
        shutil.rmtree(root)  # our own dataset with other settings: regenerate
    elif os.path.exists(root) and os.listdir(root):
        raise FileExistsError(
            f"'{root}' exists and is not a seglab demo dataset (no demo_shapes.json); pass another data_root"
        )
    tmp = f"{root.rstrip(os.sep)}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    for split, count, offset in (("train", num_train, 0), ("val", num_val, 1_000_000)):
        os.makedirs(os.path.join(tmp, "img_dir", split))
        os.makedirs(os.path.join(tmp, "ann_dir", split))
        for i in range(count):
            img, label = make_scene(seed * 10_000_019 + offset + i, img_size)
            name = f"{split}_{i:05d}.png"
            cv2.imwrite(os.path.join(tmp, "img_dir", split, name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            cv2.imwrite(os.path.join(tmp, "ann_dir", split, name), label)
    with open(os.path.join(tmp, "demo_shapes.json"), "w") as f:
        json.dump(want, f)
    if os.path.isdir(root) and not os.listdir(root):
        os.rmdir(root)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(root)), exist_ok=True)
        os.rename(tmp, root)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another process finished first
        if not os.path.isfile(marker_path):
            raise
    return root


@DATASETS.register_module()
class DemoShapesDataset(BaseSegDataset):
    """Synthetic shapes (5 classes incl. background), generated into ``data_root`` on first use.

    ``data_prefix`` picks the split: ``img_dir/train`` + ``ann_dir/train`` (default, 400 images) or
    ``img_dir/val`` + ``ann_dir/val`` (100 images).
    """

    METAINFO = dict(classes=CLASSES, palette=PALETTE)

    def __init__(
        self,
        data_root: str = "data/demo_shapes",
        data_prefix: dict = dict(img_path="img_dir/train", seg_map_path="ann_dir/train"),  # noqa: B006
        img_suffix: str = ".png",
        seg_map_suffix: str = ".png",
        num_train: int = 400,
        num_val: int = 100,
        img_size: int = 96,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        generate_demo_shapes(data_root, num_train, num_val, img_size, seed)
        super().__init__(
            data_root=data_root, data_prefix=data_prefix, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs
        )
