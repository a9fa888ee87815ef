"""Building blocks shared by backbones, necks and heads."""
from .activation import Clamp, HSigmoid, HSwish, Swish, build_activation_layer
from .conv_module import ConvModule, DepthwiseSeparableConvModule, build_conv_layer
from .norm import build_norm_layer, is_norm, norm_abbr
from .resize import Upsample, resize

__all__ = [
    "Clamp", "HSigmoid", "HSwish", "Swish", "build_activation_layer", "ConvModule",
    "DepthwiseSeparableConvModule", "build_conv_layer", "build_norm_layer", "is_norm", "norm_abbr",
    "Upsample", "resize",
]
