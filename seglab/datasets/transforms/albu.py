"""Albu: apply an albumentations pipeline to the image and masks (optional extra ``albu``)."""
from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from seglab.registry import TRANSFORMS

__all__ = ["Albu"]

_INSTALL = "Albu needs albumentations: pip install seglab[albu] (or pip install albumentations)"


def _albumentations() -> Any:
    try:
        import albumentations
    except ImportError as exc:
        raise ImportError(_INSTALL) from exc
    return albumentations


@TRANSFORMS.register_module()
class Albu:
    """Run albumentations transforms given as config dicts (``dict(type='HorizontalFlip', p=0.5)``).

    ``keymap`` maps results keys to albumentations targets (default ``img -> image``,
    ``gt_seg_map -> mask``). Other masks in ``seg_fields`` and a second image ``img2`` (change
    detection) get the same geometric transform as additional targets, so pairs stay aligned
    (MMSeg leaves them untransformed). 3-channel BGR images are given to albumentations as RGB.
    ``update_pad_shape`` sets ``pad_shape`` to the output size.
    """

    def __init__(self, transforms: Sequence[dict], keymap: dict | None = None, update_pad_shape: bool = False) -> None:
        self.albu = _albumentations()
        self.transforms = copy.deepcopy(list(transforms))
        self.keymap_to_albu = dict(keymap) if keymap else {"img": "image", "gt_seg_map": "mask"}
        self.keymap_back = {v: k for k, v in self.keymap_to_albu.items()}
        self.update_pad_shape = update_pad_shape
        self._extra_targets: dict[str, str] = {}
        self.aug = self._compose([self.albu_builder(t) for t in self.transforms])

    def albu_builder(self, cfg: dict) -> Any:
        """Build one albumentations transform from a dict (``type`` is a class name or class)."""
        if not isinstance(cfg, dict) or "type" not in cfg:
            raise ValueError(f"Albu: each transform must be a dict with 'type', got {cfg!r}")
        args = dict(cfg)
        obj_type = args.pop("type")
        if isinstance(obj_type, str):
            if not hasattr(self.albu, obj_type):
                raise ValueError(f"Albu: albumentations has no transform '{obj_type}'")
            obj_cls = getattr(self.albu, obj_type)
        elif inspect.isclass(obj_type):
            obj_cls = obj_type
        else:
            raise TypeError(f"Albu: type must be a class name or class, got {type(obj_type).__name__}")
        if "transforms" in args:
            args["transforms"] = [self.albu_builder(t) for t in args["transforms"]]
        return obj_cls(**args)

    def _compose(self, transforms: list, extra: dict[str, str] | None = None) -> Any:
        return self.albu.Compose(transforms, additional_targets=extra or None)

    def _targets(self, results: dict) -> dict[str, str]:
        """Extra keys (second image, other masks) to transform like the image / mask."""
        extra = {}
        if results.get("img2") is not None and "img2" not in self.keymap_to_albu:
            extra["img2"] = "image"
        for key in results.get("seg_fields", []):
            if key not in self.keymap_to_albu and results.get(key) is not None:
                extra[key] = "mask"
        return extra

    @staticmethod
    def _to_rgb(img: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if img.ndim == 3 and img.shape[2] == 3 else img

    def __call__(self, results: dict) -> dict:
        extra = self._targets(results)
        if extra != self._extra_targets:  # Compose fixes its targets at construction
            self._extra_targets = extra
            self.aug = self._compose(list(self.aug.transforms), extra)
        inputs = {self.keymap_to_albu[k]: v for k, v in results.items() if k in self.keymap_to_albu}
        inputs.update({k: results[k] for k in extra})
        for key, kind in [("image", "image")] + [(k, v) for k, v in extra.items()]:
            if kind == "image" and key in inputs:
                inputs[key] = self._to_rgb(inputs[key])
        out = self.aug(**inputs)
        for key, kind in [("image", "image")] + [(k, v) for k, v in extra.items()]:
            if kind == "image" and key in out:
                out[key] = self._to_rgb(out[key])  # RGB -> BGR is the same channel swap
        for albu_key, value in out.items():
            results[self.keymap_back.get(albu_key, albu_key)] = value
        if "img" in results:
            results["img_shape"] = results["img"].shape[:2]
            if self.update_pad_shape:
                results["pad_shape"] = results["img"].shape[:2]
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(transforms={self.transforms})"
