"""SegVisualizationHook: draws ground truth | prediction overlays during validation and testing."""
from __future__ import annotations

import os.path as osp
from typing import Any

import cv2

from seglab.registry import HOOKS
from seglab.unused_arguments import warn_unused

from .hook import Hook

__all__ = ["SegVisualizationHook"]


def _read_rgb(path: str) -> Any:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"SegVisualizationHook: cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@HOOKS.register_module()
class SegVisualizationHook(Hook):
    """When ``draw``: every ``interval``-th validation batch, and every ``interval``-th test sample, is drawn.

    Images go to the runner's visualizer (``vis_data/vis_image/`` with the local backend).
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

    def _add(self, runner: Any, sample: Any, name: str, step: int) -> None:
        if runner.visualizer is None:
            return
        img_path = sample.metainfo.get("img_path")
        runner.visualizer.add_datasample(name, _read_rgb(img_path), data_sample=sample, show=self.show,
                                         wait_time=self.wait_time, step=step)

    def after_val_iter(self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        if not self.draw or not outputs or not self.every_n(batch_idx + 1, self.interval):
            return
        for sample in outputs:
            name = f"val_{osp.splitext(osp.basename(sample.metainfo.get('img_path', 'img')))[0]}"
            self._add(runner, sample, name, runner.iter)

    def after_test_iter(self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        if not self.draw:
            return
        for sample in outputs or []:
            self._test_index += 1
            if self.every_n(self._test_index, self.interval):
                name = f"test_{osp.splitext(osp.basename(sample.metainfo.get('img_path', 'img')))[0]}"
                self._add(runner, sample, name, self._test_index)
