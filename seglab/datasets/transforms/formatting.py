"""PackSegInputs: turn a transformed ``results`` dict into the model's input tensor and SegDataSample."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from seglab.registry import TRANSFORMS
from seglab.structures import SegDataSample

__all__ = ["PackSegInputs"]

DEFAULT_META_KEYS = (
    "img_path", "seg_map_path", "ori_shape", "img_shape", "pad_shape",
    "scale_factor", "flip", "flip_direction", "reduce_zero_label",
)


@TRANSFORMS.register_module()
class PackSegInputs:
    """Pack ``img`` (H, W, C) into ``inputs`` (C, H, W) (dtype kept, uint8 normally) and the masks and
    ``meta_keys`` present in ``results`` into a SegDataSample: ``gt_sem_seg`` (1, H, W) int64,
    ``gt_depth_map`` (1, H, W) float.

    A biomedical volume ``img`` (N, Z, Y, X) is packed as it is, with its label volume as ``gt_sem_seg``
    (Z, Y, X) int64 (MMSeg's layout for 3-D data).
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def __call__(self, results: dict) -> dict:
        packed: dict = {}
        volume = "img" in results and results["img"].ndim == 4
        if "img" in results:
            img = results["img"]
            if img.ndim < 3:
                img = img[..., None]
            packed["inputs"] = torch.from_numpy(np.ascontiguousarray(img if volume else img.transpose(2, 0, 1)))
        sample = SegDataSample()
        if results.get("gt_seg_map") is not None:
            seg = results["gt_seg_map"]
            if seg.ndim != (3 if volume else 2):
                raise ValueError(f"PackSegInputs: gt_seg_map must be {'(Z, Y, X) with a volume img' if volume else '(H, W)'}"
                                 f", got shape {seg.shape}")
            seg = seg.astype(np.int64)
            sample.gt_sem_seg = torch.from_numpy(np.ascontiguousarray(seg if volume else seg[None]))
        if results.get("gt_edge_map") is not None:
            sample.gt_edge_map = torch.from_numpy(results["gt_edge_map"][None].astype(np.int64))
        if results.get("gt_depth_map") is not None:
            sample.gt_depth_map = torch.from_numpy(np.ascontiguousarray(results["gt_depth_map"][None]))
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        packed["data_samples"] = sample
        return packed

    def __repr__(self) -> str:
        return f"{type(self).__name__}(meta_keys={self.meta_keys})"
