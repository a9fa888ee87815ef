"""LIP (Look Into Person): 20 human-part classes."""
from __future__ import annotations

from typing import Any

from seglab.registry import DATASETS

from ._metainfo import LIP
from .basesegdataset import BaseSegDataset

__all__ = ["LIPDataset"]


@DATASETS.register_module()
class LIPDataset(BaseSegDataset):
    """LIP: ``train_images/*.jpg`` with ``train_segmentations/*.png``."""

    METAINFO = LIP

    def __init__(self, img_suffix: str = ".jpg", seg_map_suffix: str = ".png", **kwargs: Any) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)
