"""Synapse multi-organ CT: ``img/img<id>.nii.gz`` + ``label/label<id>.nii.gz`` -> 2-D slices.

SRC holds ``img/``, ``label/``, ``train.txt`` and ``val.txt`` (entries such as ``img0005``, id =
characters 3..6, as MMSeg's ``synapse.py`` reads them). As there (the TransUNet preparation): CT
values are clipped to [-125, 275] HU and scaled to 0..255 (truncated to uint8), volumes are sliced
along the last axis and each slice is flipped left-right; labels keep TransUNet's 8 organs
(aorta 8->1, gallbladder 4->2, left kidney 3->3, right kidney 2->4, liver 6->5, pancreas 11->6,
spleen 1->7, stomach 7->8; every other id -> 0). Output:
``img_dir/{train,val}/case<id>_slice<k:03d>.jpg`` (grey replicated to 3 channels) and
``ann_dir/{train,val}/case<id>_slice<k:03d>.png``. Reading NIfTI needs nibabel.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

from ._utils import imwrite, optional_import, read_lines

NAME = "synapse"
HU_MIN, HU_MAX = -125.0, 275.0
ORGAN_IDS = {8: 1, 4: 2, 3: 3, 2: 4, 6: 5, 11: 6, 1: 7, 7: 8}  # raw BTCV id -> class id


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this converter (none)."""


def window(volume: np.ndarray) -> np.ndarray:
    """CT volume (any shape, HU) -> uint8 of the same shape: clip to [-125, 275], scale to 0..255, truncate."""
    scaled = (np.clip(volume.astype(np.float64), HU_MIN, HU_MAX) - HU_MIN) / (HU_MAX - HU_MIN) * 255
    return np.clip(scaled, 0, 255).astype(np.uint8)


def map_labels(label: np.ndarray) -> np.ndarray:
    """Raw organ ids (any shape) -> uint8 class ids 0..8 (organs outside the 8 -> 0)."""
    lut = np.zeros(256, np.uint8)
    for raw, cls in ORGAN_IDS.items():
        lut[raw] = cls
    raw = np.rint(label).astype(np.int64)
    return np.where((raw >= 0) & (raw < 256), lut[np.clip(raw, 0, 255)], 0).astype(np.uint8)


def volume_to_slices(img: np.ndarray, label: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(H, W, D) CT and label volumes -> D pairs ((H, W) uint8 image, (H, W) uint8 class ids), flipped left-right."""
    if img.shape != label.shape or img.ndim != 3:
        raise ValueError(f"image volume {img.shape} and label volume {label.shape} must be equal 3-D shapes")
    img8, lab8 = window(img), map_labels(label)
    return [(img8[:, ::-1, k], lab8[:, ::-1, k]) for k in range(img.shape[2])]


def read_nifti(path: str) -> np.ndarray:
    """A .nii/.nii.gz volume as a float array."""
    nib = optional_import("nibabel", "nibabel", "reading Synapse NIfTI volumes")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing")
    return np.asarray(nib.load(path).get_fdata())


def convert(src: str, dst: str) -> dict[str, int]:
    """Slice the train and val cases listed in SRC; slice counts per split."""
    if not (os.path.isdir(os.path.join(src, "img")) and os.path.isdir(os.path.join(src, "label"))):
        raise FileNotFoundError(f"{src} must hold the Synapse img/ and label/ folders and train.txt/val.txt")
    counts: dict[str, int] = {}
    for split in ("train", "val"):
        counts[split] = 0
        for entry in read_lines(os.path.join(src, f"{split}.txt")):
            case = entry[3:7]
            slices = volume_to_slices(read_nifti(os.path.join(src, "img", f"img{case}.nii.gz")),
                                      read_nifti(os.path.join(src, "label", f"label{case}.nii.gz")))
            for k, (img, lab) in enumerate(slices):
                stem = f"case{case.zfill(4)}_slice{k:03d}"
                imwrite(os.path.join(dst, "img_dir", split, stem + ".jpg"), np.repeat(img[:, :, None], 3, axis=2))
                imwrite(os.path.join(dst, "ann_dir", split, stem + ".png"), np.ascontiguousarray(lab))
            counts[split] += len(slices)
    return counts
