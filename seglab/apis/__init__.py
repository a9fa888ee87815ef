"""High-level APIs: build a model from a config + checkpoint and run it on images."""

from .inference import enable_tta, inference_model, init_model, show_result_pyplot
from .inferencer import SegInferencer

__all__ = ["SegInferencer", "enable_tta", "inference_model", "init_model", "show_result_pyplot"]
