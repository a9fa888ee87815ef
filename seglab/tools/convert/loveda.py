"""LoveDA: ``Train.zip``, ``Val.zip``, ``Test.zip`` (``<Split>/{Rural,Urban}/{images_png,masks_png}``) ->
``img_dir/{train,val,test}`` and ``ann_dir/{train,val}`` (file names kept; masks unchanged, 0 = no-data)."""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile

from ._utils import find_files, materialise

NAME = "loveda"
SPLITS = ("Train", "Val", "Test")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this converter (none: SRC holds Train.zip, Val.zip, Test.zip or those folders)."""


def convert(src: str, dst: str) -> dict[str, int]:
    """Copy the LoveDA splits from SRC into DST; image counts per split."""
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for split in SPLITS:
            zipped = os.path.join(src, split + ".zip")
            if os.path.isfile(zipped):
                root = os.path.join(materialise(zipped, tmp), split)
            elif os.path.isdir(os.path.join(src, split)):
                root = os.path.join(src, split)
            else:
                if split == "Test":
                    continue  # the test split is optional (no labels; only for server submissions)
                raise FileNotFoundError(f"neither {zipped} nor {os.path.join(src, split)} exists; "
                                        "SRC must hold LoveDA's Train.zip and Val.zip (Test.zip optional)")
            out = split.lower()
            counts[out] = 0
            for kind, target in (("images_png", "img_dir"), ("masks_png", "ann_dir")):
                for area in ("Rural", "Urban"):
                    folder = os.path.join(root, area, kind)
                    if not os.path.isdir(folder):
                        if kind == "masks_png" and split == "Test":
                            continue
                        raise FileNotFoundError(f"{folder} is missing; is {split}.zip complete?")
                    os.makedirs(os.path.join(dst, target, out), exist_ok=True)
                    for p in find_files(folder, [".png"]):
                        shutil.copyfile(p, os.path.join(dst, target, out, os.path.basename(p)))
                        counts[out] += kind == "images_png"
    return counts
