"""High-level APIs: build a model from a config + checkpoint and run it on images."""

from .inference import inference_model, init_model, show_result_pyplot
from .inferencer import SegInferencer

__all__ = ["SegInferencer", "inference_model", "init_model", "show_result_pyplot"]
