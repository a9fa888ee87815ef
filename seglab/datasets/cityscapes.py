"""Driving datasets with Cityscapes' 19 train classes: Cityscapes, Dark Zurich, Nighttime Driving, BDD100K."""
from __future__ import annotations

from typing import Any

from seglab.registry import DATASETS

from ._metainfo import CITYSCAPES
from .basesegdataset import BaseSegDataset

__all__ = ["BDD100KDataset", "CityscapesDataset", "DarkZurichDataset", "NightDrivingDataset"]


@DATASETS.register_module()
class CityscapesDataset(BaseSegDataset):
    """Cityscapes: ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` with ``gtFine/..._gtFine_labelTrainIds.png``."""

    METAINFO = CITYSCAPES

    def __init__(self, img_suffix: str = "_leftImg8bit.png", seg_map_suffix: str = "_gtFine_labelTrainIds.png",
                 **kwargs: Any) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)


@DATASETS.register_module()
class DarkZurichDataset(CityscapesDataset):
    """Dark Zurich (night-time, Cityscapes classes): ``*_rgb_anon.png`` with ``*_gt_labelTrainIds.png``."""

    def __init__(self, img_suffix: str = "_rgb_anon.png", seg_map_suffix: str = "_gt_labelTrainIds.png",
                 **kwargs: Any) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)


@DATASETS.register_module()
class NightDrivingDataset(CityscapesDataset):
    """Nighttime Driving test set: ``*_leftImg8bit.png`` with ``*_gtCoarse_labelTrainIds.png``."""

    def __init__(self, img_suffix: str = "_leftImg8bit.png", seg_map_suffix: str = "_gtCoarse_labelTrainIds.png",
                 **kwargs: Any) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)


@DATASETS.register_module()
class BDD100KDataset(CityscapesDataset):
    """BDD100K semantic segmentation (Cityscapes classes): ``images/10k/*.jpg`` with ``labels/sem_seg/masks/*.png``."""

    def __init__(self, img_suffix: str = ".jpg", seg_map_suffix: str = ".png", reduce_zero_label: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, reduce_zero_label=reduce_zero_label,
                         **kwargs)
