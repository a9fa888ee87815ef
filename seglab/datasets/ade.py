"""ADE20K (SceneParsing, 150 classes): label 0 is "other" and is ignored via reduce_zero_label."""
from __future__ import annotations

from typing import Any

from seglab.registry import DATASETS

from ._metainfo import ADE20K
from .basesegdataset import BaseSegDataset

__all__ = ["ADE20KDataset"]


@DATASETS.register_module()
class ADE20KDataset(BaseSegDataset):
    """ADE20K: ``images/{training,validation}/*.jpg`` with ``annotations/.../*.png``; labels 1..150 -> 0..149."""

    METAINFO = ADE20K

    def __init__(self, img_suffix: str = ".jpg", seg_map_suffix: str = ".png", reduce_zero_label: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, reduce_zero_label=reduce_zero_label,
                         **kwargs)
