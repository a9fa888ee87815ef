"""NYU Depth V2 (Silberman et al., ECCV 2012) for depth estimation, MMSeg 1.x layout.

``images/{train,test}/<scene>_<id>.jpg`` with depth maps ``annotations/{train,test}/<scene>_<id>.png``
(16-bit millimetres: load them with ``LoadDepthAnnotation(depth_rescale_factor=1e-3)`` for metres).
Each sample gets ``depth_map_path`` and ``category_id``: the index of the scene name (the file name up
to the ``_`` before its first digit) in ``classes``, or -1 (VPD's backbone conditions on it).
"""

from __future__ import annotations

import os
from typing import Any

from seglab.registry import DATASETS

from .basesegdataset import BaseSegDataset, list_files, suffix_hint, suffixes_found

__all__ = ["NYUDataset", "nyu_category_id"]

NYU_SCENES = (
    "printer_room", "bathroom", "living_room", "study", "conference_room", "study_room", "kitchen",
    "home_office", "bedroom", "dinette", "playroom", "indoor_balcony", "laundry_room", "basement",
    "excercise_room", "foyer", "home_storage", "cafe", "furniture_store", "office_kitchen", "student_lounge",
    "dining_room", "reception_room", "computer_lab", "classroom", "office", "bookstore",
)


def nyu_category_id(file_name: str, classes: tuple[str, ...] | list[str]) -> int:
    """Scene index of ``'<scene>_<digits>...'`` in ``classes`` (e.g. 'living_room_0001.jpg' -> 2), or -1."""
    base = os.path.basename(file_name)
    first_digit = next((i for i, ch in enumerate(base) if ch.isdigit()), None)
    if first_digit is None or first_digit == 0:
        return -1
    scene = base[: first_digit - 1]
    return list(classes).index(scene) if scene in classes else -1


@DATASETS.register_module()
class NYUDataset(BaseSegDataset):
    """NYU-v2 depth: images under ``data_prefix['img_path']``, depth maps under ``['depth_map_path']``.

    ``ann_file`` (one stem per line) selects samples; otherwise the image folder is scanned
    recursively. ``classes`` are the 27 scene names (for ``category_id``), not label classes.
    """

    METAINFO = dict(classes=NYU_SCENES)

    def __init__(
        self,
        data_prefix: dict = dict(img_path="images", depth_map_path="annotations"),  # noqa: B006 - MMSeg's default
        img_suffix: str = ".jpg",
        depth_map_suffix: str = ".png",
        **kwargs: Any,
    ) -> None:
        super().__init__(data_prefix=data_prefix, img_suffix=img_suffix, seg_map_suffix=depth_map_suffix, **kwargs)

    @property
    def depth_map_suffix(self) -> str:
        """Suffix of the depth maps (stored as ``seg_map_suffix``, as in MMSeg)."""
        return self.seg_map_suffix

    def _stems(self, img_dir: str) -> list[str]:
        if self.ann_file:
            if not os.path.isfile(self.ann_file):
                raise FileNotFoundError(f"NYUDataset: ann_file '{self.ann_file}' does not exist")
            with open(self.ann_file) as f:
                return [line.strip() for line in f if line.strip()]
        if not img_dir or not os.path.isdir(img_dir):
            raise FileNotFoundError(f"NYUDataset: image folder '{img_dir}' does not exist; check data_root and "
                                    "data_prefix['img_path']")
        return [p[: len(p) - len(self.img_suffix)] for p in list_files(img_dir, self.img_suffix)]

    def load_data_list(self) -> list[dict]:
        """One dict per image: img_path, depth_map_path (when the prefix is set), seg_fields, category_id."""
        img_dir = self.data_prefix.get("img_path")
        depth_dir = self.data_prefix.get("depth_map_path")
        classes = self._metainfo.get("classes") or ()
        data_list = []
        for stem in self._stems(img_dir):
            info: dict[str, Any] = dict(img_path=os.path.join(img_dir, stem + self.img_suffix))
            if depth_dir is not None:
                info["depth_map_path"] = os.path.join(depth_dir, stem + self.seg_map_suffix)
            info["seg_fields"] = []
            info["category_id"] = nyu_category_id(stem + self.img_suffix, classes)
            data_list.append(info)
        missing = [d["depth_map_path"] for d in data_list if "depth_map_path" in d
                   and not os.path.isfile(d["depth_map_path"])]
        if missing:
            stem = os.path.relpath(missing[0], depth_dir)[: -len(self.seg_map_suffix) or None]
            raise FileNotFoundError(
                f"NYUDataset: {len(missing)} images have no depth map under data_prefix['depth_map_path']="
                f"'{depth_dir}', e.g. {missing[0]} ({suffix_hint(depth_dir, stem, self.seg_map_suffix, 'depth_map_suffix')})"
                f"{suffixes_found(depth_dir)}")
        return sorted(data_list, key=lambda d: d["img_path"])
