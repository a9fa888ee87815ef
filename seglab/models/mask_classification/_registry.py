"""Registries for the mask-classification parts MMSeg takes from mmdet (``type='mmdet.X'`` in configs).

They are separate from ``MODELS`` on purpose: mmdet's ``CrossEntropyLoss``/``DiceLoss``/``FocalLoss``
take ``avg_factor`` and differ from MMSeg's losses of the same names, so ``'mmdet.CrossEntropyLoss'``
must never resolve to the MMSeg one. ``build_mmdet`` strips the ``mmdet.`` prefix and builds strictly.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...registry import Registry

__all__ = ["MASK_LOSSES", "PIXEL_DECODERS", "TASK_UTILS", "build_mmdet"]

PIXEL_DECODERS = Registry("pixel_decoder")
MASK_LOSSES = Registry("mask_classification loss")
TASK_UTILS = Registry("task_util")  # assigners, match costs, samplers


def build_mmdet(cfg: Any, registry: Registry, **defaults: Any) -> Any:
    """Build ``cfg`` from ``registry``; ``type='mmdet.Name'`` means ``'Name'``; a built object passes through."""
    if isinstance(cfg, Mapping) and isinstance(cfg.get("type"), str) and cfg["type"].startswith("mmdet."):
        cfg = dict(cfg, type=cfg["type"][len("mmdet."):])
    return registry.build(cfg, **defaults)
