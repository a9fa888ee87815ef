"""Models: segmentors, data preprocessor, backbones, necks, decode heads, losses."""
from . import backbones, decode_heads, losses, necks, samplers, segmentors  # noqa: F401 - registration
from .data_preprocessor import SegDataPreProcessor
