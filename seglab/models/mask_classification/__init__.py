"""Mask-classification building blocks (MaskFormer / Mask2Former): pixel decoders, DETR-style transformer
decoders, multi-scale deformable attention, positional encoding, Hungarian matching and mask losses."""
from ..layers.point_sample import get_uncertain_point_coords_with_randomness, point_sample
from ._registry import MASK_LOSSES, PIXEL_DECODERS, TASK_UTILS, build_mmdet
from .assigner import HungarianAssigner, MaskPseudoSampler
from .hungarian import hungarian, linear_sum_assignment
from .losses import CrossEntropyLoss, DiceLoss, FocalLoss
from .match_costs import ClassificationCost, CrossEntropyLossCost, DiceCost, FocalLossCost
from .ms_deform_attn import MultiScaleDeformableAttention, multi_scale_deformable_attn
from .pixel_decoders import MSDeformAttnPixelDecoder, PixelDecoder, TransformerEncoderPixelDecoder
from .positional_encoding import SinePositionalEncoding

__all__ = [
    "MASK_LOSSES", "PIXEL_DECODERS", "TASK_UTILS", "build_mmdet", "ClassificationCost", "CrossEntropyLoss",
    "CrossEntropyLossCost", "DiceCost", "DiceLoss", "FocalLoss", "FocalLossCost", "HungarianAssigner",
    "MSDeformAttnPixelDecoder", "MaskPseudoSampler", "MultiScaleDeformableAttention", "PixelDecoder",
    "SinePositionalEncoding", "TransformerEncoderPixelDecoder", "get_uncertain_point_coords_with_randomness",
    "hungarian", "linear_sum_assignment", "multi_scale_deformable_attn", "point_sample",
]
