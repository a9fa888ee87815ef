"""Evaluation: confusion-matrix based segmentation metrics."""

from .metrics import IoUMetric

__all__ = ["IoUMetric"]
