"""STARE: ``stare-images.tar``, ``labels-ah.tar``, ``labels-vk.tar`` (gzipped PPMs) -> MMSeg's layout.

The first 10 images (sorted) are training, the other 10 validation: ``im0001.ppm.gz`` ->
``images/training/im0001.png``; ``im0001.ah.ppm.gz`` -> ``annotations/training/im0001.ah.png`` (0/1),
likewise ``.vk``.
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import tempfile

from ._retinal import write_annotation, write_image
from ._utils import find_files, materialise, require_files

NAME = "stare"
TRAINING_LEN = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this converter."""
    parser.add_argument("--training-len", type=int, default=TRAINING_LEN, help="images in the training split")


def _ungzip_all(folder: str, out: str) -> list[str]:
    os.makedirs(out, exist_ok=True)
    files = []
    for p in find_files(folder, [".gz", ".ppm"]):
        target = os.path.join(out, os.path.basename(p)[:-3] if p.endswith(".gz") else os.path.basename(p))
        if p.endswith(".gz"):
            with gzip.open(p, "rb") as fin, open(target, "wb") as fout:
                shutil.copyfileobj(fin, fout)
        else:
            shutil.copyfile(p, target)
        files.append(target)
    return sorted(files)


def convert(src: str, dst: str, training_len: int = TRAINING_LEN) -> dict[str, int]:
    """Convert SRC (a folder with the three tars, or their unpacked folders) into DST; counts per split."""
    counts = {"train": 0, "val": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for key, is_label in (("stare-images", False), ("labels-ah", True), ("labels-vk", True)):
            entries = [n for n in sorted(os.listdir(src)) if n.startswith(key)]
            require_files(entries, f"{key}.tar", src, "download the STARE images and both label sets")
            folder = materialise(os.path.join(src, entries[0]), os.path.join(tmp, "x"))
            files = _ungzip_all(folder, os.path.join(tmp, key))
            for i, p in enumerate(files):
                split = "train" if i < training_len else "val"
                stem = os.path.splitext(os.path.basename(p))[0]  # im0001 / im0001.ah
                if is_label:
                    write_annotation(p, dst, split, stem)
                else:
                    write_image(p, dst, split, stem)
                    counts[split] += 1
    return counts
