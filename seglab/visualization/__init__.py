"""Visualization: palettes, overlays, the local visualizer and its backends."""

from .legend import contact_sheet, draw_legend
from .local_visualizer import SegLocalVisualizer
from .overlay import colorize, overlay
from .palette import dataset_meta, get_palette, random_palette
from .plots import confusion_matrix_figure, curves_figure, normalize_confusion
from .tracking_backends import MLflowVisBackend, WandbVisBackend
from .vis_backend import LocalVisBackend, TensorboardVisBackend

__all__ = [
    "LocalVisBackend",
    "MLflowVisBackend",
    "SegLocalVisualizer",
    "TensorboardVisBackend",
    "WandbVisBackend",
    "colorize",
    "confusion_matrix_figure",
    "contact_sheet",
    "curves_figure",
    "dataset_meta",
    "draw_legend",
    "get_palette",
    "normalize_confusion",
    "overlay",
    "random_palette",
]
