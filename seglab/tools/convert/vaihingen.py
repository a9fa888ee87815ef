"""ISPRS Vaihingen: ``ISPRS_semantic_labeling_Vaihingen.zip`` (top/ IRRG tiles) +
``ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE.zip`` -> 512x512 patches:
``img_dir/{train,val}/area1_<x0>_<y0>_<x1>_<y1>.png`` and the same name in ``ann_dir`` (indices 0..6)."""
from __future__ import annotations

import argparse

from ._isprs import convert_tiles

NAME = "vaihingen"
# MMSeg's split: these 16 areas train, the other labelled areas validate.
TRAIN_IDS = {
    "area1", "area11", "area13", "area15", "area17", "area21", "area23", "area26", "area28", "area3",
    "area30", "area32", "area34", "area37", "area5", "area7",
}
IMAGE_RE = r"top_mosaic_09cm_(area\d+)\.tif$"
LABEL_RE = r"top_mosaic_09cm_(area\d+)_noBoundary\.tif$"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this converter."""
    parser.add_argument("--clip-size", type=int, default=512, help="patch size (default 512)")
    parser.add_argument("--stride", type=int, default=512, help="window step (default 512, as MMSeg's output)")


def convert(src: str, dst: str, clip_size: int = 512, stride: int = 512) -> dict[str, int]:
    """Tile SRC (a folder with the two zips or their .tif files) into DST; patch counts per split."""
    return convert_tiles(src, dst, IMAGE_RE, LABEL_RE, TRAIN_IDS, clip_size, stride)
