"""Metrics registered in ``seglab.registry.METRICS``."""

from .cityscapes_metric import CityscapesMetric
from .iou_metric import IoUMetric

__all__ = ["CityscapesMetric", "IoUMetric"]
