"""Metrics registered in ``seglab.registry.METRICS``."""

from .iou_metric import IoUMetric

__all__ = ["IoUMetric"]
