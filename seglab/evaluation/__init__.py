"""Evaluation: confusion-matrix based segmentation metrics."""

from .metrics import CityscapesMetric, DepthMetric, IoUMetric

__all__ = ["CityscapesMetric", "DepthMetric", "IoUMetric"]
