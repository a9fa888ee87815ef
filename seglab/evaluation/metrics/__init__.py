"""Metrics registered in ``seglab.registry.METRICS``."""

from .cityscapes_metric import CityscapesMetric
from .depth_metric import DepthMetric
from .iou_metric import IoUMetric

__all__ = ["CityscapesMetric", "DepthMetric", "IoUMetric"]
