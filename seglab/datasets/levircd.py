"""Change-detection datasets: pairs of co-registered images (before ``A/``, after ``B/``) and a change mask."""
from __future__ import annotations

import os
from typing import Any

from seglab.registry import DATASETS

from .basesegdataset import BaseSegDataset

__all__ = ["BaseCDDataset", "LEVIRCDDataset"]


@DATASETS.register_module()
class BaseCDDataset(BaseSegDataset):
    """Image pairs ``<img_path>/<name><img_suffix>`` + ``<img_path2>/<name><img_suffix2>`` with the
    label map ``<seg_map_path>/<name><seg_map_suffix>``; each sample has ``img_path`` and ``img_path2``.
    """

    def __init__(
        self,
        img_suffix: str = ".jpg",
        img_suffix2: str = ".jpg",
        data_prefix: dict = dict(img_path="", img_path2="", seg_map_path=""),  # noqa: B006 - MMSeg's default
        **kwargs: Any,
    ) -> None:
        self.img_suffix2 = img_suffix2
        super().__init__(img_suffix=img_suffix, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> list[dict]:
        """The base list plus ``img_path2`` for every sample (checked to exist)."""
        data_list = super().load_data_list()
        img_dir = self.data_prefix.get("img_path")
        img_dir2 = self.data_prefix.get("img_path2")
        if img_dir2 is None:
            raise ValueError(f"{type(self).__name__}: data_prefix needs 'img_path2' (the second image of each pair)")
        missing = []
        for info in data_list:
            rel = os.path.relpath(info["img_path"], img_dir)
            stem = rel[: len(rel) - len(self.img_suffix)]
            info["img_path2"] = os.path.join(img_dir2, stem + self.img_suffix2)
            if not os.path.isfile(info["img_path2"]):
                missing.append(info["img_path2"])
        if missing:
            raise FileNotFoundError(
                f"{type(self).__name__}: {len(missing)} second images are missing, e.g. {missing[:3]}; every "
                f"'<name>{self.img_suffix}' in '{img_dir}' needs '<name>{self.img_suffix2}' in '{img_dir2}'"
            )
        return data_list


@DATASETS.register_module()
class LEVIRCDDataset(BaseCDDataset):
    """LEVIR-CD building change detection: ``A/``, ``B/``, ``label/`` PNGs; classes background/changed.

    The raw masks are 0/255; MMSeg's converter (tools/dataset_converters/levircd.py) clips 256x256
    tiles and writes 255 as 1, and this class expects those converted masks (0/1).
    """

    METAINFO = dict(classes=("background", "changed"), palette=[[0, 0, 0], [255, 255, 255]])

    def __init__(
        self,
        img_suffix: str = ".png",
        img_suffix2: str = ".png",
        seg_map_suffix: str = ".png",
        reduce_zero_label: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            img_suffix=img_suffix, img_suffix2=img_suffix2, seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label, **kwargs,
        )
