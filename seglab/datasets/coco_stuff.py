"""COCO-Stuff (164k/10k; 171 classes after conversion to train ids)."""
from __future__ import annotations

from typing import Any

from seglab.registry import DATASETS

from ._metainfo import COCO_STUFF
from .basesegdataset import BaseSegDataset

__all__ = ["COCOStuffDataset"]


@DATASETS.register_module()
class COCOStuffDataset(BaseSegDataset):
    """COCO-Stuff: ``images/<split>/*.jpg`` with ``annotations/<split>/*_labelTrainIds.png``."""

    METAINFO = COCO_STUFF

    def __init__(self, img_suffix: str = ".jpg", seg_map_suffix: str = "_labelTrainIds.png", **kwargs: Any) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)
