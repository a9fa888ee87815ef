"""HRF: ``healthy.zip``, ``glaucoma.zip``, ``diabetic_retinopathy.zip`` and their ``*_manualsegm.zip``
-> MMSeg's layout; per archive the first 5 files (sorted) are training, the rest validation.
``01_h.jpg`` -> ``images/training/01_h.png``; ``01_h.tif`` -> ``annotations/training/01_h.png`` (0/1)."""
from __future__ import annotations

import argparse
import os
import tempfile

from ._retinal import write_annotation, write_image
from ._utils import find_files, materialise, require_files

NAME = "hrf"
TRAINING_LEN = 5
PARTS = ("healthy", "glaucoma", "diabetic_retinopathy")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this converter."""
    parser.add_argument("--training-len", type=int, default=TRAINING_LEN, help="training files per archive")


def convert(src: str, dst: str, training_len: int = TRAINING_LEN) -> dict[str, int]:
    """Convert SRC (a folder with the six zips, or folders of the same names) into DST; image counts."""
    counts = {"train": 0, "val": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for part in PARTS:
            for suffix, is_label in (("", False), ("_manualsegm", True)):
                name = part + suffix
                entries = [n for n in os.listdir(src) if n.split(".")[0] == name]
                require_files(entries, f"{name}.zip", src, "SRC must hold HRF's six zip files")
                folder = materialise(os.path.join(src, entries[0]), os.path.join(tmp, name))
                files = sorted(find_files(folder, [".jpg", ".tif", ".png", ".jpeg"]), key=os.path.basename)
                for i, p in enumerate(files):
                    split = "train" if i < training_len else "val"
                    stem = os.path.splitext(os.path.basename(p))[0]
                    if is_label:
                        write_annotation(p, dst, split, stem)
                    else:
                        write_image(p, dst, split, stem)
                        counts[split] += 1
    return counts
