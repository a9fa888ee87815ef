"""SegVisualizationHook: draws ground truth | prediction overlays during validation and testing."""
from __future__ import annotations

import os.path as osp
from typing import Any

import cv2

from seglab.registry import HOOKS
from seglab.unused_arguments import warn_unused

from .hook import Hook
from .protocol import RunnerLike

__all__ = ["SegVisualizationHook"]


def _read_rgb(path: str) -> Any:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"SegVisualizationHook: cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@HOOKS.register_module()
class SegVisualizationHook(Hook):
    """When ``draw``: every ``interval``-th validation batch, and every ``interval``-th test sample, is drawn.

    Images go to the runner's visualizer (``vis_data/vis_image/`` with the local backend), coloured with
    the evaluated dataset's palette (or the loaded checkpoint's ``meta.dataset_meta``).
    """

    priority = "NORMAL"

    def __init__(self, draw: bool = False, interval: int = 50, show: bool = False, wait_time: float = 0.0,
                 backend_args: dict | None = None) -> None:
        warn_unused("SegVisualizationHook", backend_args=backend_args)
        self.draw = draw
        self.interval = interval
        self.show = show
        self.wait_time = wait_time
        self._test_index = 0
        self._checkpoint_meta: dict | None = None

    # The colours: the evaluated dataset's palette (from the config, what browse-dataset draws), else the
    # loaded checkpoint's meta.dataset_meta; the visualizer generates one (and says so) only without both.
    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        meta = (checkpoint.get("meta") or {}).get("dataset_meta") or {}
        self._checkpoint_meta = dict(meta) if meta.get("classes") else None

    def _use_palette(self, runner: Any, loop: Any) -> None:
        visualizer = getattr(runner, "visualizer", None)
        if visualizer is None:
            return
        meta = getattr(getattr(getattr(loop, "dataloader", None), "dataset", None), "metainfo", None)
        meta = meta if meta and meta.get("classes") else self._checkpoint_meta
        if meta:
            visualizer.dataset_meta = dict(classes=meta["classes"], palette=meta.get("palette"))

    def before_val(self, runner: Any) -> None:
        self._use_palette(runner, getattr(runner, "val_loop", None))

    def before_test(self, runner: Any) -> None:
        self._use_palette(runner, getattr(runner, "test_loop", None))

    def _add(self, runner: RunnerLike, sample: Any, name: str, step: int) -> None:
        if runner.visualizer is None:
            return
        img_path = sample.metainfo.get("img_path")
        runner.visualizer.add_datasample(name, _read_rgb(img_path), data_sample=sample, show=self.show,
                                         wait_time=self.wait_time, step=step)

    def after_val_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        if not self.draw or not outputs or not self.every_n(batch_idx + 1, self.interval):
            return
        for sample in outputs:
            name = f"val_{osp.splitext(osp.basename(sample.metainfo.get('img_path', 'img')))[0]}"
            self._add(runner, sample, name, runner.iter)

    def after_test_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        if not self.draw:
            return
        for sample in outputs or []:
            self._test_index += 1
            if self.every_n(self._test_index, self.interval):
                name = f"test_{osp.splitext(osp.basename(sample.metainfo.get('img_path', 'img')))[0]}"
                self._add(runner, sample, name, self._test_index)
