"""High-level APIs: build a model from a config + checkpoint and run it on images."""

from .export import ExportError, export_model
from .inference import enable_tta, inference_model, init_model, show_result_pyplot
from .inferencer import SegInferencer

__all__ = ["ExportError", "SegInferencer", "enable_tta", "export_model", "inference_model", "init_model", "show_result_pyplot"]
