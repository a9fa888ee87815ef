"""CamVid (SegNet preparation): 11 street-scene classes, 360x480 PNG images, void (11) ignored."""
from __future__ import annotations

from typing import Any

from seglab.registry import DATASETS

from .basesegdataset import BaseSegDataset

__all__ = ["CamVidDataset"]


@DATASETS.register_module()
class CamVidDataset(BaseSegDataset):
    """CamVid in the SegNet layout: ``train/*.png`` with ``trainannot/*.png`` (same names).

    Mask values 0..10 are the classes; 11 ("void") is mapped to the ignore index through
    ``RAW_LABEL_MAP``, so every loaded mask, metric and loss sees 255 there.
    """

    METAINFO = dict(
        classes=(
            "sky", "building", "pole", "road", "sidewalk", "tree",
            "sign", "fence", "car", "pedestrian", "bicyclist",
        ),
        palette=[
            [128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222], [128, 128, 0],
            [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0], [0, 128, 192],
        ],
    )
    RAW_LABEL_MAP = {11: 255}

    def __init__(
        self,
        img_suffix: str = ".png",
        seg_map_suffix: str = ".png",
        reduce_zero_label: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, reduce_zero_label=reduce_zero_label, **kwargs)
