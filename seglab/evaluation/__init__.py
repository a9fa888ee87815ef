"""Evaluation: confusion-matrix based segmentation metrics."""

from .metrics import CityscapesMetric, IoUMetric

__all__ = ["CityscapesMetric", "IoUMetric"]
