"""Medical Segmentation Decathlon (Antonelli et al., 2022, http://medicaldecathlon.com), MMSeg 1.x layout.

``ann_file`` is the task's ``dataset.json``: ``training`` lists ``{"image": "./imagesTr/x.nii.gz",
"label": "./labelsTr/x.nii.gz"}``, ``test`` lists ``"./imagesTs/y.nii.gz"``; paths are relative to
``data_root``. Class names come from its ``labels``, and its other keys (name, modality, ...) join the
metainfo. Volumes load with LoadBiomedicalImageFromFile / LoadBiomedicalAnnotation (NIfTI needs the
``medical`` extra).
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from seglab.registry import DATASETS

from .basesegdataset import BaseSegDataset

__all__ = ["DecathlonDataset"]


def _relative(path: str) -> str:
    """'./imagesTr/x.nii.gz' -> 'imagesTr/x.nii.gz' (Decathlon writes paths with a leading './')."""
    return path[2:] if path.startswith("./") else path


@DATASETS.register_module()
class DecathlonDataset(BaseSegDataset):
    """A Decathlon task folder described by its ``dataset.json`` (``ann_file``); ``test_mode`` reads ``test``."""

    def __init__(self, ann_file: str = "", metainfo: dict | None = None, data_root: str | None = None,
                 **kwargs: Any) -> None:
        self._description: dict | None = None
        # The class names live in dataset.json: read them before the base class needs them (test_mode).
        path = os.path.join(data_root, ann_file) if data_root and ann_file and not os.path.isabs(ann_file) else ann_file
        if path and os.path.isfile(path):
            self.ann_file = path
            metainfo = {"classes": list(self._read_description()["labels"].values()), **(metainfo or {})}
        super().__init__(ann_file=ann_file, metainfo=metainfo, data_root=data_root, **kwargs)

    def _read_description(self) -> dict:
        if self._description is None:
            if not self.ann_file or not os.path.isfile(self.ann_file):
                raise FileNotFoundError(f"DecathlonDataset: ann_file '{self.ann_file}' does not exist; set it to the "
                                        "task's dataset.json (relative to data_root)")
            with open(self.ann_file) as f:
                description = json.load(f)
            if not isinstance(description, dict):
                raise TypeError(f"DecathlonDataset: {self.ann_file} must hold a JSON object, got "
                                f"{type(description).__name__}")
            for key in ("training", "test", "labels"):
                if key not in description:
                    raise KeyError(f"DecathlonDataset: {self.ann_file} has no '{key}' key (a Decathlon dataset.json "
                                   "has 'labels', 'training' and 'test')")
            self._description = description
        return self._description

    def load_data_list(self) -> list[dict]:
        """One dict per case: img_path, seg_map_path (training cases), label_map, reduce_zero_label, seg_fields."""
        description = self._read_description()
        root = self.data_root or ""
        data_list = []
        for i, entry in enumerate(description["test" if self.test_mode else "training"]):
            if isinstance(entry, dict):
                if "image" not in entry or "label" not in entry:
                    raise KeyError(f"DecathlonDataset: {self.ann_file} training[{i}] needs 'image' and 'label', "
                                   f"got {sorted(entry)}")
                info: dict[str, Any] = dict(img_path=os.path.join(root, _relative(entry["image"])),
                                            seg_map_path=os.path.join(root, _relative(entry["label"])))
            else:
                info = dict(img_path=os.path.join(root, _relative(entry)))
            info.update(label_map=self.label_map, reduce_zero_label=self.reduce_zero_label, seg_fields=[])
            data_list.append(info)
        meta = copy.deepcopy({k: v for k, v in description.items() if k not in ("training", "test")})
        meta["classes"] = list(description["labels"].values())
        for key, value in meta.items():
            self._metainfo.setdefault(key, value)
        return data_list
