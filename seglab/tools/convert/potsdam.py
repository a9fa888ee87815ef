"""ISPRS Potsdam: ``2_Ortho_RGB.zip`` + ``5_Labels_all_noBoundary.zip`` -> 512x512 patches in MMSeg's
layout: ``img_dir/{train,val}/2_10_<x0>_<y0>_<x1>_<y1>.png`` and the same name in ``ann_dir`` with
indices 0..6 (0 = boundary/unknown colour, dropped by reduce_zero_label)."""
from __future__ import annotations

import argparse

from ._isprs import convert_tiles

NAME = "potsdam"
# MMSeg's split: these 24 tiles train, the other 14 labelled tiles validate.
TRAIN_IDS = {
    "2_10", "2_11", "2_12", "3_10", "3_11", "3_12", "4_10", "4_11", "4_12", "5_10", "5_11", "5_12",
    "6_10", "6_11", "6_12", "6_7", "6_8", "6_9", "7_10", "7_11", "7_12", "7_7", "7_8", "7_9",
}
IMAGE_RE = r"top_potsdam_(\d+_\d+)_RGB\.tif$"
LABEL_RE = r"top_potsdam_(\d+_\d+)_label.*\.tif$"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this converter."""
    parser.add_argument("--clip-size", type=int, default=512, help="patch size (default 512)")
    # MMSeg's script takes --stride_size 256 but steps its windows by clip_size, so its output equals
    # stride 512; that is the default here. Pass --stride 256 for half-overlapping patches.
    parser.add_argument("--stride", type=int, default=512, help="window step (default 512, as MMSeg's output)")


def convert(src: str, dst: str, clip_size: int = 512, stride: int = 512) -> dict[str, int]:
    """Tile SRC (a folder with the two zips or their .tif files) into DST; patch counts per split."""
    return convert_tiles(src, dst, IMAGE_RE, LABEL_RE, TRAIN_IDS, clip_size, stride)
