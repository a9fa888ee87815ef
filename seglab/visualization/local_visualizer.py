"""SegLocalVisualizer: draw ground truth | prediction overlays and send them to files or vis backends."""

from __future__ import annotations

import logging
import os
import os.path as osp
import warnings
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from seglab.registry import VISBACKENDS, VISUALIZERS

from .legend import draw_legend
from .overlay import overlay
from .palette import dataset_meta as named_dataset_meta
from .palette import get_palette, random_palette

__all__ = ["SegLocalVisualizer"]

logger = logging.getLogger("seglab")


def depth_panels(sample: Any, draw_gt: bool, draw_pred: bool, size: tuple[int, int]) -> list[np.ndarray]:
    """``gt_depth_map`` / ``pred_depth_map`` of a sample as RGB (H, W, 3) uint8 colour maps (turbo: near is
    blue, far is red) on one shared scale; pixels without ground-truth depth (<= 0) are black."""
    fields = [f for f, wanted in (("gt_depth_map", draw_gt), ("pred_depth_map", draw_pred)) if wanted]
    maps = []
    for field in fields:
        value = sample.get(field) if isinstance(sample, dict) else getattr(sample, field, None)
        data = None if value is None else (value.get("data") if isinstance(value, dict) else getattr(value, "data", value))
        if data is not None:
            data = data.detach().cpu().float().numpy() if isinstance(data, torch.Tensor) else np.asarray(data, np.float32)
            maps.append(cv2.resize(data.reshape(data.shape[-2:]), size[::-1], interpolation=cv2.INTER_NEAREST))
    if not maps:
        return []
    valid = np.concatenate([m[m > 0] for m in maps])
    low, high = (float(valid.min()), float(valid.max())) if valid.size else (0.0, 1.0)
    panels = []
    for m in maps:
        scaled = np.clip((m - low) / max(high - low, 1e-6) * 255, 0, 255).astype(np.uint8)
        rgb = cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO)[..., ::-1].copy()
        rgb[m <= 0] = 0
        panels.append(rgb)
    return panels


def _mask_of(sample: Any, field: str) -> np.ndarray | None:
    value = sample.get(field) if isinstance(sample, dict) else getattr(sample, field, None)
    if value is None:
        return None
    data = value.get("data") if isinstance(value, dict) else getattr(value, "data", value)
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    data = np.asarray(data)
    data = data[0] if data.ndim == 3 else data
    # Labels index the palette and class names: a float 0/1 mask (e.g. an older sigmoid head) must too.
    return data.astype(np.int64) if not np.issubdtype(data.dtype, np.integer) else data


@VISUALIZERS.register_module()
class SegLocalVisualizer:
    """Draws segmentation masks over images (RGB) and writes them to ``out_file`` or the vis backends.

    ``vis_backends`` are configs (e.g. ``[dict(type='LocalVisBackend')]``) or objects; configs are built
    with ``save_dir`` when one is given (the runner passes ``<work_dir>/<timestamp>/vis_data``).
    """

    def __init__(
        self,
        name: str = "visualizer",
        image: np.ndarray | None = None,
        vis_backends: Sequence[dict | Any] | None = None,
        save_dir: str | None = None,
        classes: Sequence[str] | None = None,
        palette: Sequence[Sequence[int]] | None = None,
        dataset_name: str | None = None,
        alpha: float = 0.8,
    ) -> None:
        self.name = name
        self.alpha = alpha
        self.save_dir = save_dir
        self._image = None if image is None else np.asarray(image)
        self.vis_backends: list[Any] = []
        for cfg in vis_backends or []:
            if isinstance(cfg, dict) and save_dir is None:
                continue  # as in MMEngine: file backends need a save_dir; nothing to write to yet
            self.vis_backends.append(VISBACKENDS.build(cfg, save_dir=save_dir) if isinstance(cfg, dict) else cfg)
        self._dataset_meta: dict = {}
        self._generated_noted = False
        self.set_dataset_meta(classes, palette, dataset_name)

    def _note_generated(self, why: str) -> None:
        """Say once per visualizer that the colours are made up, so nobody mistakes them for the dataset's."""
        if not self._generated_noted:
            self._generated_noted = True
            logger.warning(f"SegLocalVisualizer: {why}; drawing with a generated palette (fixed seed, the same "
                           "every run). Give the dataset metainfo palette or the checkpoint's dataset_meta to "
                           "use its colours")

    # ------------------------------------------------------------------ meta
    def set_dataset_meta(
        self,
        classes: Sequence[str] | None = None,
        palette: Sequence[Sequence[int]] | None = None,
        dataset_name: str | None = None,
    ) -> None:
        """Set class names and colours; a registered ``dataset_name`` fills whichever is missing."""
        if dataset_name is not None and (classes is None or palette is None):
            named = named_dataset_meta(dataset_name)
            classes = classes if classes is not None else named["classes"]
            palette = palette if palette is not None else named["palette"]
        if classes is None:
            self._dataset_meta = {}
            return
        if palette is None or not len(palette):
            self._note_generated(f"{len(classes)} class names but no palette")
            palette = get_palette(list(classes))
        else:
            palette = get_palette(palette)
        if len(palette) < len(classes):
            raise ValueError(f"SegLocalVisualizer: {len(classes)} classes but only {len(palette)} palette colours")
        self._dataset_meta = dict(classes=list(classes), palette=palette)

    @property
    def dataset_meta(self) -> dict:
        """``{'classes': [...], 'palette': [[r, g, b], ...]}`` (empty when unknown)."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta: dict | None) -> None:
        meta = meta or {}
        self.set_dataset_meta(meta.get("classes"), meta.get("palette"))

    # ----------------------------------------------------------------- image
    def set_image(self, image: np.ndarray) -> None:
        """Set the current canvas (RGB (H, W, 3) uint8)."""
        self._image = np.asarray(image)

    def get_image(self) -> np.ndarray | None:
        """The last drawn canvas."""
        return self._image

    def _palette_for(self, masks: list[np.ndarray]) -> tuple[list[str], list[list[int]]]:
        if self._dataset_meta:
            return self._dataset_meta["classes"], self._dataset_meta["palette"]
        top = max((int(m[m != 255].max(initial=-1)) for m in masks), default=-1) + 1
        self._note_generated("no dataset_meta (classes, palette) is set")
        return [str(i) for i in range(top)], random_palette(top)

    def _draw(self, image: np.ndarray, mask: np.ndarray, classes: list[str], palette: list, labels: bool) -> np.ndarray:
        if mask.shape != image.shape[:2]:  # e.g. a prediction at another scale: nearest keeps labels
            mask = cv2.resize(mask.astype(np.int32), image.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        drawn = overlay(image, mask, palette, self.alpha)
        if labels:
            for cls in np.unique(mask):
                if not 0 <= cls < len(classes):
                    continue
                # Put the name at the pixel farthest from the region border, so it sits inside it.
                dist = cv2.distanceTransform((mask == cls).astype(np.uint8), cv2.DIST_L2, 3)
                y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
                cv2.putText(
                    drawn,
                    str(classes[cls]),
                    (int(x), int(y)),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.4,
                    (255, 255, 255),
                    1,
                    cv2.LINE_AA,
                )
        return drawn

    def add_datasample(
        self,
        name: str,
        image: np.ndarray,
        data_sample: Any = None,
        draw_gt: bool = True,
        draw_pred: bool = True,
        show: bool = False,
        wait_time: float = 0,
        out_file: str | None = None,
        step: int = 0,
        with_labels: bool = False,
        with_legend: bool = False,
    ) -> np.ndarray:
        """Draw [GT | prediction] overlays of ``data_sample`` on ``image`` (RGB (H, W, 3)) side by side
        (for depth samples: the image, then the ground-truth and predicted depth as colour maps).

        Writes the result to ``out_file`` (PNG/JPG via cv2) if given, else to every vis backend
        under ``name`` and ``step``; returns it (RGB (H, W', 3) uint8). ``with_labels`` writes class names
        at region centres; ``with_legend`` adds a legend of the drawn classes below (RGB (H + h, W', 3)).
        """
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        image = image.astype(np.uint8)
        masks = []
        if data_sample is not None:
            if draw_gt and (gt := _mask_of(data_sample, "gt_sem_seg")) is not None:
                masks.append(gt)
            if draw_pred and (pred := _mask_of(data_sample, "pred_sem_seg")) is not None:
                masks.append(pred)
        classes, palette = self._palette_for(masks)
        panels = [self._draw(image, m, classes, palette, with_labels) for m in masks] or [image]
        if data_sample is not None:  # depth estimation: the image, then colour-mapped depth maps
            panels += depth_panels(data_sample, draw_gt, draw_pred, image.shape[:2])
        drawn = np.concatenate(panels, axis=1)
        if with_legend and masks:
            present = sorted({int(c) for m in masks for c in np.unique(m) if 0 <= c < len(classes)})
            drawn = np.concatenate([drawn, draw_legend(classes, palette, drawn.shape[1], present=present)], axis=0)
        self.set_image(drawn)
        if show:
            try:
                cv2.imshow(name, drawn[..., ::-1])
                cv2.waitKey(int(wait_time * 1000))
            except cv2.error:
                warnings.warn("SegLocalVisualizer: show=True but OpenCV has no GUI here; use out_file", stacklevel=2)
        if out_file is not None:
            folder = osp.dirname(osp.abspath(out_file))
            os.makedirs(folder, exist_ok=True)
            if not cv2.imwrite(out_file, drawn[..., ::-1]):
                raise OSError(f"SegLocalVisualizer: could not write {out_file} (unknown extension?)")
        else:
            self.add_image(name, drawn, step)
        return drawn

    # -------------------------------------------------------------- backends
    def add_image(self, name: str, image: np.ndarray, step: int = 0) -> None:
        """Send an RGB image to every backend."""
        for backend in self.vis_backends:
            backend.add_image(name, image, step)

    def add_scalars(self, scalar_dict: dict[str, Any], step: int = 0, **kwargs: Any) -> None:
        """Send scalars to every backend."""
        for backend in self.vis_backends:
            backend.add_scalars(scalar_dict, step, **kwargs)

    def add_config(self, config: Any, **kwargs: Any) -> None:
        """Send the config to every backend."""
        for backend in self.vis_backends:
            backend.add_config(config, **kwargs)

    def close(self) -> None:
        """Close every backend."""
        for backend in self.vis_backends:
            backend.close()
