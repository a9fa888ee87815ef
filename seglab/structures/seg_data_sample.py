"""SegDataSample: one image's annotation, prediction and meta information."""
from __future__ import annotations

from typing import Any

import torch

__all__ = ["PixelData", "SegDataSample"]


class PixelData:
    """A per-pixel tensor ``data`` of shape (C, H, W), as in MMEngine (``sample.gt_sem_seg.data``)."""

    def __init__(self, data: torch.Tensor | None = None, metainfo: dict | None = None, **kwargs: Any) -> None:
        if data is None and "data" in kwargs:
            data = kwargs.pop("data")
        if data is not None and data.dim() == 2:
            data = data[None]
        self.data = data
        self.metainfo = dict(metainfo or {})

    @property
    def shape(self) -> tuple[int, int]:
        """Spatial size (H, W)."""
        return tuple(self.data.shape[-2:])

    def to(self, *args: Any, **kwargs: Any) -> PixelData:
        """Return a copy with ``data`` moved/cast like ``Tensor.to``."""
        return PixelData(self.data.to(*args, **kwargs), self.metainfo)

    def cpu(self) -> PixelData:
        """Return a copy on the CPU."""
        return self.to("cpu")

    def numpy(self):  # noqa: ANN201 - numpy array
        """Return ``data`` as a numpy array."""
        return self.data.detach().cpu().numpy()

    def __repr__(self) -> str:
        shape = None if self.data is None else tuple(self.data.shape)
        return f"PixelData(shape={shape}, dtype={None if self.data is None else self.data.dtype})"


class SegDataSample:
    """Ground truth, prediction and metainfo of one image.

    Fields (all optional): ``gt_sem_seg`` (1, H, W) int64 labels, ``pred_sem_seg`` (1, H, W) int64,
    ``seg_logits`` (C, H, W) float, ``gt_edge_map``/``gt_depth_map`` where a task has them, ``pred_depth_map`` (1, H, W) float from a
    DepthEstimator.
    Metainfo keys (``img_path``, ``ori_shape``, ``img_shape``, ``pad_shape``, ``scale_factor``,
    ``flip``, ``flip_direction``, ...) are also readable as attributes, as in MMSeg.
    """

    _FIELDS = ("gt_sem_seg", "pred_sem_seg", "seg_logits", "gt_edge_map", "gt_depth_map", "i_seg", "gt_seg_map_2",
               "pred_depth_map")

    def __init__(self, metainfo: dict | None = None, **fields: Any) -> None:
        object.__setattr__(self, "_metainfo", dict(metainfo or {}))
        for name in self._FIELDS:
            object.__setattr__(self, name, None)
        for name, value in fields.items():
            setattr(self, name, value)

    @property
    def metainfo(self) -> dict:
        """The meta information dict (shapes, paths, flip state...)."""
        return self._metainfo

    def set_metainfo(self, metainfo: dict) -> None:
        """Merge ``metainfo`` into this sample's meta information."""
        self._metainfo.update(metainfo)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("gt_sem_seg", "pred_sem_seg", "seg_logits", "gt_edge_map", "gt_depth_map", "pred_depth_map") and isinstance(
            value, torch.Tensor
        ):
            value = PixelData(value)
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: fall back to metainfo keys.
        meta = object.__getattribute__(self, "_metainfo")
        if name in meta:
            return meta[name]
        raise AttributeError(f"SegDataSample has no field or metainfo key '{name}'")

    def get(self, name: str, default: Any = None) -> Any:
        """Return a field or metainfo value, or ``default``."""
        try:
            value = getattr(self, name)
        except AttributeError:
            return default
        return default if value is None else value

    def __contains__(self, name: str) -> bool:
        return name in self._metainfo or getattr(self, name, None) is not None

    def to(self, *args: Any, **kwargs: Any) -> SegDataSample:
        """Return a copy with every tensor field moved like ``Tensor.to``."""
        out = SegDataSample(metainfo=self._metainfo)
        for name, value in vars(self).items():
            if name == "_metainfo":
                continue
            if isinstance(value, (PixelData, torch.Tensor)):
                value = value.to(*args, **kwargs)
            object.__setattr__(out, name, value)
        return out

    def cpu(self) -> SegDataSample:
        """Return a copy on the CPU."""
        return self.to("cpu")

    def __repr__(self) -> str:
        fields = {k: v for k, v in vars(self).items() if k != "_metainfo" and v is not None}
        return f"SegDataSample(metainfo={self._metainfo}, {fields})"
