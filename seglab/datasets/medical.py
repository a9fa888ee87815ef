"""Medical datasets: retinal vessels (DRIVE, STARE, CHASE_DB1, HRF), Synapse CT organs, REFUGE optic disc/cup."""
from __future__ import annotations

from typing import Any

from seglab.registry import DATASETS

from ._metainfo import REFUGE, RETINAL_VESSEL, SYNAPSE
from .basesegdataset import BaseSegDataset

__all__ = ["ChaseDB1Dataset", "DRIVEDataset", "HRFDataset", "REFUGEDataset", "STAREDataset", "SynapseDataset"]


class _VesselDataset(BaseSegDataset):
    """Retinal vessel segmentation: background / vessel, masks named ``<image stem><seg_map_suffix>``."""

    METAINFO = RETINAL_VESSEL
    SEG_MAP_SUFFIX = ".png"

    def __init__(self, img_suffix: str = ".png", seg_map_suffix: str | None = None, reduce_zero_label: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix or self.SEG_MAP_SUFFIX,
                         reduce_zero_label=reduce_zero_label, **kwargs)


@DATASETS.register_module()
class DRIVEDataset(_VesselDataset):
    """DRIVE: ``*.png`` with ``*_manual1.png``."""

    SEG_MAP_SUFFIX = "_manual1.png"


@DATASETS.register_module()
class STAREDataset(_VesselDataset):
    """STARE: ``*.png`` with ``*.ah.png``."""

    SEG_MAP_SUFFIX = ".ah.png"


@DATASETS.register_module()
class ChaseDB1Dataset(_VesselDataset):
    """CHASE_DB1: ``*.png`` with ``*_1stHO.png``."""

    SEG_MAP_SUFFIX = "_1stHO.png"


@DATASETS.register_module()
class HRFDataset(_VesselDataset):
    """HRF: ``*.png`` with ``*.png``."""


@DATASETS.register_module()
class SynapseDataset(BaseSegDataset):
    """Synapse multi-organ CT (9 classes incl. background) as 2D slices ``*.jpg`` with ``*.png``."""

    METAINFO = SYNAPSE

    def __init__(self, img_suffix: str = ".jpg", seg_map_suffix: str = ".png", **kwargs: Any) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)


@DATASETS.register_module()
class REFUGEDataset(BaseSegDataset):
    """REFUGE fundus images: background, optic cup, optic disc; ``*.png`` with ``*.png``."""

    METAINFO = REFUGE

    def __init__(self, img_suffix: str = ".png", seg_map_suffix: str = ".png", reduce_zero_label: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, reduce_zero_label=reduce_zero_label,
                         **kwargs)
