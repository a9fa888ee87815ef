"""Aerial/satellite datasets: LoveDA, ISPRS Potsdam and Vaihingen, iSAID."""
from __future__ import annotations

from typing import Any

from seglab.registry import DATASETS

from ._metainfo import ISAID, LOVEDA, POTSDAM
from .basesegdataset import BaseSegDataset

__all__ = ["ISPRSDataset", "LoveDADataset", "PotsdamDataset", "iSAIDDataset"]


class _PngZeroIgnored(BaseSegDataset):
    """PNG tiles whose label 0 is "no data"/clutter-free background and is ignored (reduce_zero_label)."""

    def __init__(self, img_suffix: str = ".png", seg_map_suffix: str = ".png", reduce_zero_label: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, reduce_zero_label=reduce_zero_label,
                         **kwargs)


@DATASETS.register_module()
class LoveDADataset(_PngZeroIgnored):
    """LoveDA (7 land-cover classes; 0 = no data): ``img_dir/<split>/*.png`` with ``ann_dir/<split>/*.png``."""

    METAINFO = LOVEDA


@DATASETS.register_module()
class PotsdamDataset(_PngZeroIgnored):
    """ISPRS Potsdam (6 classes; 0 = boundary, ignored) in 512x512 tiles."""

    METAINFO = POTSDAM


@DATASETS.register_module()
class ISPRSDataset(_PngZeroIgnored):
    """ISPRS Vaihingen (6 classes; 0 = boundary, ignored) in 512x512 tiles."""

    METAINFO = POTSDAM


@DATASETS.register_module()
class iSAIDDataset(BaseSegDataset):
    """iSAID (16 classes incl. background): ``*.png`` patches with ``*_instance_color_RGB.png`` index masks."""

    METAINFO = ISAID

    def __init__(self, img_suffix: str = ".png", seg_map_suffix: str = "_instance_color_RGB.png",
                 ignore_index: int = 255, **kwargs: Any) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, ignore_index=ignore_index, **kwargs)
