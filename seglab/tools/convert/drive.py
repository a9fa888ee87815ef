"""DRIVE: ``training.zip`` and ``test.zip`` (or their unpacked folders) -> MMSeg's DRIVE layout.

``training/images/21_training.tif`` -> ``images/training/21.png``; ``training/1st_manual/21_manual1.gif``
-> ``annotations/training/21_manual1.png`` (vessel 1, background 0); the test part becomes
``validation`` (``01_test.tif`` -> ``01.png``; its ``1st_manual``/``2nd_manual`` when present).
"""
from __future__ import annotations

import argparse
import os
import tempfile

from ._retinal import write_annotation, write_image
from ._utils import find_files, materialise, require_files

NAME = "drive"
_IMAGE_EXT = [".tif", ".tiff", ".png", ".jpg"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this converter (none beyond SRC/DST: SRC holds training.zip and test.zip)."""


def _roots(src: str, tmp: str) -> list[str]:
    roots = [src]
    for name in sorted(os.listdir(src)):
        if name.lower().endswith((".zip", ".tar", ".tar.gz", ".tgz")):
            roots.append(materialise(os.path.join(src, name), tmp))
    return roots


def convert(src: str, dst: str) -> dict[str, int]:
    """Convert SRC (a folder with training.zip/test.zip or training/ and test/) into DST; counts per split."""
    counts = {"train": 0, "val": 0}
    with tempfile.TemporaryDirectory() as tmp:
        roots = _roots(src, tmp) if os.path.isdir(src) else [materialise(src, tmp)]
        for part, split, tag in (("training", "train", "_training"), ("test", "val", "_test")):
            sep = os.sep
            images = [p for r in roots for p in find_files(r, _IMAGE_EXT) if f"{sep}{part}{sep}images{sep}" in p]
            if part == "training":
                require_files(images, "training/images/*.tif", src, "SRC must hold DRIVE's training.zip (and test.zip)")
            for p in images:
                stem = os.path.splitext(os.path.basename(p))[0].replace(tag, "")
                write_image(p, dst, split, stem)
                counts[split] += 1
            for manual in ("1st_manual", "2nd_manual"):
                for p in (p for r in roots for p in find_files(r, [".gif", ".png", ".tif"])
                          if f"{sep}{part}{sep}{manual}{sep}" in p):
                    write_annotation(p, dst, split, os.path.splitext(os.path.basename(p))[0])
    return counts
