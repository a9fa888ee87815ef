"""Models: segmentors, data preprocessor, backbones, necks, decode heads, losses."""
from . import (  # noqa: F401 - registration
    backbones,
    batch_augments,  # noqa: F401 - registration
    decode_heads,
    losses,
    necks,
    samplers,
    segmentors,
    text_encoder,
    unavailable,
)
from .data_preprocessor import SegDataPreProcessor
from .depthwise import blocked_depthwise, blocked_depthwise_convs  # noqa: F401
from .fuse import folded_pairs, fuse_conv_bn, is_fused  # noqa: F401
from .multiband import adapt_input_conv, adapt_input_convs  # noqa: F401
from .winograd import winograd_conv, winograd_convs  # noqa: F401
