"""Building blocks shared by backbones, necks and heads."""
from .activation import Clamp, HSigmoid, HSwish, QuickGELU, Swish, build_activation_layer
from .context_block import ContextBlock
from .conv_module import ConvModule, DepthwiseSeparableConvModule, build_conv_layer
from .criss_cross_attention import CrissCrossAttention
from .encoding import Encoding
from .non_local import NonLocal2d
from .norm import build_norm_layer, is_norm, norm_abbr
from .psa_mask import PSAMask, psa_mask
from .resize import Upsample, resize
from .scale import Scale
from .self_attention_block import SelfAttentionBlock

__all__ = [
    "Clamp", "HSigmoid", "HSwish", "Swish", "build_activation_layer", "ConvModule",
    "DepthwiseSeparableConvModule", "build_conv_layer", "build_norm_layer", "is_norm", "norm_abbr",
    "Upsample", "resize",
]
__all__ += ["ContextBlock", "CrissCrossAttention", "Encoding", "NonLocal2d", "PSAMask", "psa_mask", "Scale",
            "SelfAttentionBlock"]
from .inverted_residual import InvertedResidual  # noqa: E402
from .make_divisible import make_divisible  # noqa: E402

__all__ += ["InvertedResidual", "make_divisible"]
from .conv2d_adaptive_padding import Conv2dAdaptivePadding  # noqa: E402
from .inverted_residual_v3 import InvertedResidualV3  # noqa: E402
from .se_layer import SELayer  # noqa: E402

__all__ += ["Conv2dAdaptivePadding", "InvertedResidualV3", "SELayer"]
from .dappm import DAPPM, PAPPM  # noqa: E402
from .prenorm_transformer_layer import PreNormTransformerLayer  # noqa: E402

__all__ += ["DAPPM", "PAPPM", "PreNormTransformerLayer"]
from .knet_kernel_update import KernelUpdateHead, KernelUpdator  # noqa: E402

__all__ += ["KernelUpdateHead", "KernelUpdator"]
from .point_sample import get_uncertain_point_coords_with_randomness, point_sample, sample_uncertain_points  # noqa: E402

__all__ += ["get_uncertain_point_coords_with_randomness", "point_sample", "sample_uncertain_points"]
