"""Data structures passed between datasets, models and metrics."""
from .seg_data_sample import PixelData, SegDataSample

__all__ = ["PixelData", "SegDataSample"]
