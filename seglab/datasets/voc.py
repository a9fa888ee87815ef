"""PASCAL VOC 2012 (21 classes) and PASCAL Context (60 classes, or 59 without background)."""
from __future__ import annotations

from typing import Any

from seglab.registry import DATASETS

from ._metainfo import PASCAL_CONTEXT, PASCAL_CONTEXT59, PASCAL_VOC
from .basesegdataset import BaseSegDataset

__all__ = ["PascalContextDataset", "PascalContextDataset59", "PascalVOCDataset"]


@DATASETS.register_module()
class PascalVOCDataset(BaseSegDataset):
    """VOC2012: ``JPEGImages/*.jpg`` with ``SegmentationClass/*.png`` (palette PNGs), split by ``ann_file``."""

    METAINFO = PASCAL_VOC

    def __init__(self, ann_file: str, img_suffix: str = ".jpg", seg_map_suffix: str = ".png", **kwargs: Any) -> None:
        if not ann_file:
            raise ValueError("PascalVOCDataset needs ann_file (e.g. 'ImageSets/Segmentation/train.txt')")
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)


@DATASETS.register_module()
class PascalContextDataset(BaseSegDataset):
    """PASCAL Context with 60 classes (0 = background): ``JPEGImages`` with ``SegmentationClassContext``."""

    METAINFO = PASCAL_CONTEXT

    def __init__(self, ann_file: str = "", img_suffix: str = ".jpg", seg_map_suffix: str = ".png",
                 reduce_zero_label: bool = False, **kwargs: Any) -> None:
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)


@DATASETS.register_module()
class PascalContextDataset59(BaseSegDataset):
    """PASCAL Context with 59 classes: background (0) is ignored through reduce_zero_label."""

    METAINFO = PASCAL_CONTEXT59

    def __init__(self, ann_file: str = "", img_suffix: str = ".jpg", seg_map_suffix: str = ".png",
                 reduce_zero_label: bool = True, **kwargs: Any) -> None:
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)
