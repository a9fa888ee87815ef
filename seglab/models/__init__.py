"""Models: segmentors, data preprocessor, backbones, necks, decode heads, losses."""
from . import backbones, decode_heads, losses, necks, samplers, segmentors  # noqa: F401 - registration
from .data_preprocessor import SegDataPreProcessor
from . import batch_augments  # noqa: F401 - registration
from .multiband import adapt_input_conv, adapt_input_convs  # noqa: F401
