"""Mapillary Vistas v1.2 (66 classes) and v2.0 (124 classes)."""
from __future__ import annotations

from typing import Any

from seglab.registry import DATASETS

from ._metainfo import MAPILLARY_V1, MAPILLARY_V2
from .basesegdataset import BaseSegDataset

__all__ = ["MapillaryDataset_v1", "MapillaryDataset_v2"]


@DATASETS.register_module()
class MapillaryDataset_v1(BaseSegDataset):
    """Mapillary Vistas v1.2: ``training/images/*.jpg`` with ``training/v1.2/labels/*.png``."""

    METAINFO = MAPILLARY_V1

    def __init__(self, img_suffix: str = ".jpg", seg_map_suffix: str = ".png", **kwargs: Any) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)


@DATASETS.register_module()
class MapillaryDataset_v2(BaseSegDataset):
    """Mapillary Vistas v2.0: ``training/images/*.jpg`` with ``training/v2.0/labels/*.png``."""

    METAINFO = MAPILLARY_V2

    def __init__(self, img_suffix: str = ".jpg", seg_map_suffix: str = ".png", **kwargs: Any) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)
