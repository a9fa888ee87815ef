"""Evaluation: confusion-matrix based segmentation metrics."""

from .metrics import DepthMetric, IoUMetric

__all__ = ["DepthMetric", "IoUMetric"]
