"""Visualization: palettes, overlays, the local visualizer and its backends."""

from .local_visualizer import SegLocalVisualizer
from .overlay import colorize, overlay
from .palette import dataset_meta, get_palette, random_palette
from .vis_backend import LocalVisBackend, TensorboardVisBackend

__all__ = [
    "LocalVisBackend",
    "SegLocalVisualizer",
    "TensorboardVisBackend",
    "colorize",
    "dataset_meta",
    "get_palette",
    "overlay",
    "random_palette",
]
