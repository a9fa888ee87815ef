"""Contract cases: a tiny constructor config and the inputs for every registered backbone, neck and head.

Every backbone, neck and decode head registered in ``MODELS`` needs at least one entry in ``CASES``
(``test_contract.py`` fails with the missing names otherwise). A case gives the config, the input
shapes for each size variant (odd sizes on purpose) and what the output must look like.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

Shape = tuple[int, ...]

BATCH = 2  # > 1 so BatchNorm in training mode sees more than one value per channel after global pooling
IMAGE_SIZES: tuple[tuple[int, int], ...] = ((33, 47), (64, 64))  # one odd, one even


def feature_shapes(channels: tuple[int, ...], strides: tuple[int, ...]) -> tuple[tuple[Shape, ...], ...]:
    """Per image size, the (N, C, ceil(H/s), ceil(W/s)) shapes a backbone gives at ``strides``."""
    return tuple(
        tuple((BATCH, c, math.ceil(h / s), math.ceil(w / s)) for c, s in zip(channels, strides))
        for h, w in IMAGE_SIZES
    )


IMAGES: tuple[tuple[Shape, ...], ...] = tuple(((BATCH, 3, h, w),) for h, w in IMAGE_SIZES)
# A ResNet-like pyramid (strides 4..32) and a two-level map (stride 4, 8) for single-level heads.
PYRAMID = feature_shapes((4, 8, 12, 16), (4, 8, 16, 32))
TWO_LEVEL = feature_shapes((8, 16), (4, 8))

BN = dict(type="BN", requires_grad=True)


@dataclass(frozen=True)
class Case:
    """One contract case.

    ``kind`` is 'backbone', 'neck', 'head' or 'mask_head'. ``inputs[v]`` holds the input shapes for size
    variant ``v`` (a backbone takes the single image tensor, necks and heads a list of maps). Outputs:
    backbones check ``out_channels``/``out_strides`` (declared here and on the model); heads give
    (N, out_channels, h, w) with (h, w) of ``inputs[v][out_like]``; necks give ``neck_out(shapes)``;
    mask heads give ``mask_layers`` class scores (N, num_queries, num_classes + 1) then as many mask
    logits (N, num_queries, h, w).
    """

    name: str
    kind: str
    cfg: dict
    inputs: tuple[tuple[Shape, ...], ...]
    out_channels: tuple[int, ...] = ()
    out_strides: tuple[int, ...] = ()
    out_like: int = -1
    neck_out: Callable[[tuple[Shape, ...]], list[Shape]] | None = None
    mask_layers: int = 0
    prev_output: bool = False  # a cascade head: the last input map is the previous stage's logits
    call: Callable | None = None  # call(model, maps) for a head whose input is not a list of maps (SAN)
    requires: str = ""  # an optional extra's module (tests/_optional.py) the case needs, e.g. 'timm'


    @property
    def type(self) -> str:
        return self.cfg["type"]


def _backbone(name: str, cfg: dict, channels: tuple[int, ...], strides: tuple[int, ...]) -> Case:
    return Case(name, "backbone", cfg, IMAGES, out_channels=channels, out_strides=strides)


def _head(name: str, cfg: dict, inputs: tuple[tuple[Shape, ...], ...] = TWO_LEVEL, out_like: int = -1,
          **extra) -> Case:
    return Case(name, "head", {"num_classes": 5, **cfg}, inputs, out_like=out_like, **extra)


def _cascade_head(name: str, cfg: dict, inputs: tuple[tuple[Shape, ...], ...] = TWO_LEVEL, level: int = -1) -> Case:
    """A cascade head case: the maps of ``inputs`` plus the previous stage's 5-class logits at ``level``'s size."""
    with_prev = tuple((*shapes, (shapes[level][0], 5, *shapes[level][2:])) for shapes in inputs)
    return _head(name, cfg, with_prev, out_like=-1, prev_output=True)


def _images(*sizes: tuple[int, int], channels: int = 3) -> tuple[tuple[Shape, ...], ...]:
    """Backbone inputs of the given (H, W) sizes (for backbones that need sizes divisible by a rate)."""
    return tuple(((BATCH, channels, h, w),) for h, w in sizes)


def _fpn_out(num_outs: int, start: int = 0) -> Callable[[tuple[Shape, ...]], list[Shape]]:
    def expect(shapes: tuple[Shape, ...]) -> list[Shape]:
        outs = [(n, 8, h, w) for n, _, h, w in shapes[start:]]
        while len(outs) < num_outs:  # extra levels: stride-2 max pool / conv, ceil for odd sizes
            n, c, h, w = outs[-1]
            outs.append((n, c, math.ceil(h / 2), math.ceil(w / 2)))
        return outs

    return expect


def _jpu_out(shapes: tuple[Shape, ...]) -> list[Shape]:
    n, _, h, w = shapes[0]
    return [*shapes[:-1], (n, 4 * 8, h, w)]  # passthrough maps, then mid_channels * len(dilations) at level 0


def _mln_out(shapes: tuple[Shape, ...]) -> list[Shape]:
    n, _, h, w = shapes[0]
    return [(n, 6, math.floor(h * s), math.floor(w * s)) for s in (0.5, 1, 2)]


def _upsampled(channels: tuple[tuple[int], ...], scale: int) -> tuple[tuple[Shape, ...], ...]:
    """Maps of the given channels at 5x6 / 8x8, then an unread (N, 1, scale*h, scale*w) size marker."""
    return tuple(tuple((BATCH, c[0], h, w) for c in channels) + ((BATCH, 1, scale * h, scale * w),)
                 for h, w in ((5, 6), (8, 8)))


def _dpt_inputs() -> tuple[tuple[Shape, ...], ...]:
    """Four ViT maps (N, 8, h, w) without cls tokens (readout 'ignore'), then the 8h x 8w size marker.

    Powers of two: the fusion path doubles the coarsest (stride-2 conv) map four times.
    """
    return tuple(((BATCH, 8, h, w),) * 4 + ((BATCH, 1, 8 * h, 8 * w),) for h, w in ((2, 4), (4, 4)))


def _f2p_out(rescales: tuple[float, ...]) -> Callable[[tuple[Shape, ...]], list[Shape]]:
    def expect(shapes: tuple[Shape, ...]) -> list[Shape]:
        # transposed convs multiply exactly; max pooling floors
        return [(n, c, int(h * s) if s >= 1 else h // int(1 / s), int(w * s) if s >= 1 else w // int(1 / s))
                for (n, c, h, w), s in zip(shapes, rescales)]

    return expect


_RESNET = dict(depth=18, stem_channels=8, base_channels=8)
_R18 = (8, 16, 32, 64)
_STRIDES = (4, 8, 16, 32)
_DILATED = dict(strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), contract_dilation=True)

_HRNET_TINY = dict(
    stage1=dict(num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(1,), num_channels=(4,)),
    stage2=dict(num_modules=1, num_branches=2, block="BASIC", num_blocks=(1, 1), num_channels=(4, 8)),
    stage3=dict(num_modules=1, num_branches=3, block="BASIC", num_blocks=(1, 1, 1), num_channels=(4, 8, 12)),
    stage4=dict(num_modules=2, num_branches=4, block="BASIC", num_blocks=(1, 1, 1, 1), num_channels=(4, 8, 12, 16)))
_HRNET_BOTTLENECK = dict(
    stage1=dict(num_modules=1, num_branches=1, block="BASIC", num_blocks=(1,), num_channels=(8,)),
    stage2=dict(num_modules=1, num_branches=2, block="BOTTLENECK", num_blocks=(1, 1), num_channels=(2, 4)),
    stage3=dict(num_modules=1, num_branches=3, block="BASIC", num_blocks=(1, 1, 1), num_channels=(8, 16, 8)),
    stage4=dict(num_modules=1, num_branches=4, block="BASIC", num_blocks=(1, 1, 1, 1), num_channels=(8, 16, 8, 16)))

CASES: list[Case] = [
    # -- backbones ---------------------------------------------------------------------------------
    _backbone("ResNet-18", dict(type="ResNet", **_RESNET), _R18, _STRIDES),
    _backbone("ResNetV1c-18", dict(type="ResNetV1c", **_RESNET), _R18, _STRIDES),
    _backbone("ResNetV1c-18-dilated", dict(type="ResNetV1c", **_RESNET, **_DILATED), _R18, (4, 8, 8, 8)),
    _backbone("ResNetV1d-18", dict(type="ResNetV1d", **_RESNET), _R18, _STRIDES),
    _backbone("ResNeXt-50-2x32", dict(type="ResNeXt", depth=50, stem_channels=8, base_channels=8, groups=2,
                                      base_width=32), (32, 64, 128, 256), _STRIDES),
    _backbone("ResNeSt-50", dict(type="ResNeSt", depth=50, stem_channels=16, base_channels=8, radix=2,
                                 reduction_factor=4), (32, 64, 128, 256), _STRIDES),
    _backbone("MobileNetV2-0.25", dict(type="MobileNetV2", widen_factor=0.25), (8, 8, 24, 80), _STRIDES),
    _backbone("MobileNetV2-0.25-dilated", dict(type="MobileNetV2", widen_factor=0.25, strides=(1, 2, 2, 1, 1, 1, 1),
                                               dilations=(1, 1, 1, 2, 2, 4, 4)), (8, 8, 24, 80), (4, 8, 8, 8)),
    _backbone("MixVisionTransformer-tiny", dict(type="MixVisionTransformer", embed_dims=4, num_layers=[1, 1, 1, 1],
                                                num_heads=[1, 2, 2, 4], sr_ratios=[8, 4, 2, 1]), (4, 8, 8, 16), _STRIDES),
    _backbone("MixVisionTransformer-2-stages-no-qkv-bias", dict(
        type="MixVisionTransformer", embed_dims=4, num_stages=2, num_layers=[2, 1], num_heads=[1, 2], patch_sizes=[3, 3],
        strides=[2, 2], sr_ratios=[2, 1], out_indices=[1], qkv_bias=False), (8,), (4,)),
    _backbone("MSCAN-tiny", dict(type="MSCAN", embed_dims=[8, 8, 16, 16], mlp_ratios=[2, 2, 2, 2], depths=[1, 1, 1, 1],
                                 norm_cfg=BN), (8, 8, 16, 16), _STRIDES),
    _backbone("MSCAN-2-stages-2-branches", dict(
        type="MSCAN", embed_dims=[8, 16], mlp_ratios=[2, 2], depths=[2, 1], num_stages=2, norm_cfg=BN,
        attention_kernel_sizes=[3, [1, 5], [1, 7]], attention_kernel_paddings=[1, [0, 2], [0, 3]]), (8, 16), (4, 8)),
    _backbone("SwinTransformer", dict(type="SwinTransformer", embed_dims=8, depths=(2, 2), num_heads=(1, 2),
                                      strides=(4, 2), out_indices=(0, 1), window_size=3), (8, 16), (4, 8)),
    _backbone("SwinTransformer-abs-pos-3-stages", dict(type="SwinTransformer", embed_dims=8, depths=(1, 2, 1),
                                                       num_heads=(1, 2, 2), strides=(2, 2, 2), patch_size=2,
                                                       out_indices=(1, 2), window_size=4, use_abs_pos_embed=True,
                                                       pretrain_img_size=32), (16, 32), (4, 8)),
    _backbone("VisionTransformer", dict(type="VisionTransformer", img_size=32, patch_size=8, embed_dims=8,
                                        num_layers=3, num_heads=2, out_indices=(1, 2), final_norm=True,
                                        drop_path_rate=0.1), (8, 8), (8, 8)),
    _backbone("VisionTransformer-origin-prenorm", dict(type="VisionTransformer", img_size=(24, 40),
                                                             patch_size=4, embed_dims=8, num_layers=2, num_heads=2,
                                                             out_origin=True, pre_norm=True,
                                                             patch_norm=True, patch_bias=True, qkv_bias=False,
                                                             interpolate_mode="bilinear", out_indices=-1),
              (8, 8), (4, 4)),
    # BEiT/MAE patch embeddings have no padding (floor), so their sizes are multiples of the patch;
    # both differ from img_size, which resizes the relative position tables (and MAE's pos_embed).
    Case("BEiT", "backbone", dict(type="BEiT", img_size=32, patch_size=8, embed_dims=8, num_layers=2, num_heads=2,
                                  out_indices=(0, 1), final_norm=True, drop_path_rate=0.1),
         (((BATCH, 3, 24, 40),), ((BATCH, 3, 32, 32),)), out_channels=(8, 8), out_strides=(8, 8)),
    Case("MAE", "backbone", dict(type="MAE", img_size=32, patch_size=8, embed_dims=8, num_layers=2, num_heads=2,
                                 out_indices=-1, patch_norm=True),
         (((BATCH, 3, 24, 40),), ((BATCH, 3, 32, 32),)), out_channels=(8,), out_strides=(8,)),
    _backbone("HRNet-tiny", dict(type="HRNet", norm_cfg=BN, extra=_HRNET_TINY), (4, 8, 12, 16), _STRIDES),
    _backbone("HRNet-tiny-bottleneck-frozen", dict(type="HRNet", norm_cfg=BN, extra=_HRNET_BOTTLENECK,
                                                   frozen_stages=1, in_channels=3), (8, 16, 8, 16), _STRIDES),
    # UNet needs H, W divisible by its total downsample rate: a rate-1 UNet takes the odd sizes.
    _backbone("UNet-s3-no-downsample", dict(type="UNet", base_channels=4, num_stages=3, strides=(1, 1, 1),
                                            enc_num_convs=(1, 1, 2), dec_num_convs=(1, 2), downsamples=(False, False),
                                            enc_dilations=(1, 1, 2), dec_dilations=(1, 2), norm_cfg=BN),
              (16, 8, 4), (1, 1, 1)),
    Case("UNet-s4-interp", "backbone", dict(type="UNet", base_channels=4, num_stages=4, strides=(1, 1, 1, 1),
                                            enc_num_convs=(2, 1, 1, 1), dec_num_convs=(1, 1, 1),
                                            downsamples=(True, True, True), enc_dilations=(1, 1, 1, 1),
                                            dec_dilations=(1, 1, 1), norm_cfg=BN),
         _images((24, 40), (64, 64)), out_channels=(32, 16, 8, 4), out_strides=(8, 4, 2, 1)),
    Case("UNet-s3-strided-deconv", "backbone", dict(type="UNet", base_channels=4, num_stages=3, strides=(1, 2, 1),
                                                    enc_num_convs=(1, 1, 1), dec_num_convs=(1, 1),
                                                    downsamples=(True, True), enc_dilations=(1, 1, 1),
                                                    dec_dilations=(1, 1), upsample_cfg=dict(type="DeconvModule"),
                                                    norm_cfg=BN),
         _images((36, 44), (64, 64)), out_channels=(16, 8, 4), out_strides=(4, 2, 1)),
    # -- necks -------------------------------------------------------------------------------------
    Case("FPN", "neck", dict(type="FPN", in_channels=[4, 8, 12, 16], out_channels=8, num_outs=5), PYRAMID,
         neck_out=_fpn_out(5)),
    Case("FPN-extra-convs-bn", "neck", dict(type="FPN", in_channels=[4, 8, 12, 16], out_channels=8, num_outs=5,
                                            start_level=1, add_extra_convs="on_input", relu_before_extra_convs=True,
                                            norm_cfg=BN, act_cfg=dict(type="ReLU")), PYRAMID,
         neck_out=_fpn_out(5, start=1)),
    Case("JPU", "neck", dict(type="JPU", in_channels=[8, 12, 16], mid_channels=8, norm_cfg=BN),
         tuple(shapes[1:] for shapes in PYRAMID), neck_out=_jpu_out),
    Case("MultiLevelNeck", "neck", dict(type="MultiLevelNeck", in_channels=[16], out_channels=6, scales=[0.5, 1, 2],
                                        norm_cfg=BN, act_cfg=dict(type="ReLU")),
         tuple(shapes[1:] for shapes in TWO_LEVEL), neck_out=_mln_out),
    Case("MLANeck", "neck", dict(type="MLANeck", in_channels=[8, 8, 8], out_channels=6, norm_cfg=BN,
                                 act_cfg=dict(type="ReLU")),
         tuple(shapes[:1] * 3 for shapes in TWO_LEVEL),
         neck_out=lambda shapes: [(n, 6, h, w) for n, _, h, w in shapes]),
    Case("Feature2Pyramid", "neck", dict(type="Feature2Pyramid", embed_dim=8, rescales=[4, 2, 1, 0.5], norm_cfg=BN),
         tuple(shapes[:1] * 4 for shapes in TWO_LEVEL), neck_out=_f2p_out((4, 2, 1, 0.5))),
    Case("Feature2Pyramid-down", "neck", dict(type="Feature2Pyramid", embed_dim=8, rescales=[2, 1, 0.5, 0.25],
                                              norm_cfg=BN),
         tuple(shapes[:1] * 4 for shapes in TWO_LEVEL), neck_out=_f2p_out((2, 1, 0.5, 0.25))),
    # -- decode heads (single level: the stride-8 map of TWO_LEVEL, 5x6 and 8x8) ----------------------
    _head("FCNHead", dict(type="FCNHead", in_channels=16, channels=8, norm_cfg=BN)),
    _head("FCNHead-no-convs", dict(type="FCNHead", in_channels=[8, 16], in_index=[0, 1], channels=24, num_convs=0,
                                   concat_input=False, input_transform="resize_concat"), out_like=0),
    _head("FCNHead-binary", dict(type="FCNHead", in_channels=16, channels=8, num_classes=2, out_channels=1,
                                 threshold=0.3, norm_cfg=BN,
                                 loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=True))),
    _head("DepthwiseSeparableFCNHead", dict(type="DepthwiseSeparableFCNHead", in_channels=16, channels=8,
                                            norm_cfg=BN)),
    _head("PSPHead", dict(type="PSPHead", in_channels=16, channels=8, pool_scales=(1, 2, 3, 6), norm_cfg=BN)),
    _head("ASPPHead", dict(type="ASPPHead", in_channels=16, channels=8, dilations=(1, 2, 3), norm_cfg=BN)),
    _head("DepthwiseSeparableASPPHead", dict(type="DepthwiseSeparableASPPHead", in_channels=16, in_index=1,
                                             channels=8, c1_in_channels=8, c1_channels=4, dilations=(1, 2, 3),
                                             norm_cfg=BN), out_like=0),
    _head("UPerHead", dict(type="UPerHead", in_channels=[4, 8, 12, 16], in_index=[0, 1, 2, 3], channels=8,
                           pool_scales=(1, 2, 3), norm_cfg=BN), PYRAMID, out_like=0),
    _head("FPNHead", dict(type="FPNHead", in_channels=[4, 8, 12, 16], in_index=[0, 1, 2, 3],
                          feature_strides=[4, 8, 16, 32], channels=8, norm_cfg=BN), PYRAMID, out_like=0),
    _head("ANNHead", dict(type="ANNHead", in_channels=[8, 16], in_index=[0, 1],
                          channels=8, project_channels=8, query_scales=(1,), key_pool_scales=(1, 3),
                          norm_cfg=BN)),
    _head("APCHead", dict(type="APCHead", in_channels=16, channels=8, pool_scales=(1, 2), norm_cfg=BN)),
    _head("CCHead", dict(type="CCHead", in_channels=16, channels=8, recurrence=2, norm_cfg=BN)),
    _head("DAHead", dict(type="DAHead", in_channels=16, channels=8, pam_channels=4, norm_cfg=BN)),
    _head("DMHead", dict(type="DMHead", in_channels=16, channels=8, filter_sizes=(1, 3), fusion=True,
                         norm_cfg=BN)),
    _head("DNLHead", dict(type="DNLHead", in_channels=16, channels=8, reduction=2, norm_cfg=BN)),
    _head("EMAHead", dict(type="EMAHead", in_channels=16, channels=8, ema_channels=8, num_bases=4, num_stages=2,
                          norm_cfg=BN)),  # ema_mid_conv is frozen (requires_grad=False) as in MMSeg
    _head("EncHead", dict(type="EncHead", in_channels=[8, 12, 16], in_index=[0, 1, 2],
                          channels=8, num_codes=4, add_lateral=True,
                          norm_cfg=BN), tuple(shapes[1:] for shapes in PYRAMID)),
    _head("GCHead", dict(type="GCHead", in_channels=16, channels=8, ratio=0.25, norm_cfg=BN)),
    _head("ISAHead", dict(type="ISAHead", in_channels=16, channels=8, isa_channels=8, down_factor=(2, 2),
                          norm_cfg=BN)),
    _head("NLHead", dict(type="NLHead", in_channels=16, channels=8, reduction=2, norm_cfg=BN)),
    _head("SegformerHead", dict(type="SegformerHead", in_channels=[4, 8, 12, 16], in_index=[0, 1, 2, 3], channels=8,
                                norm_cfg=BN), PYRAMID, out_like=0),
    _head("LightHamHead", dict(type="LightHamHead", in_channels=[8, 12, 16], in_index=[1, 2, 3], channels=8,
                               ham_channels=8, norm_cfg=dict(type="GN", num_groups=2),
                               ham_kwargs=dict(MD_S=2, MD_R=3, train_steps=2, eval_steps=3)), PYRAMID, out_like=1),
    _cascade_head("OCRHead", dict(type="OCRHead", in_channels=16, channels=8, ocr_channels=4, norm_cfg=BN)),
    _cascade_head("OCRHead-resize-concat", dict(type="OCRHead", in_channels=[8, 16], in_index=[0, 1],
                                                input_transform="resize_concat", channels=8, ocr_channels=6,
                                                dropout_ratio=-1, norm_cfg=BN), level=0),
    _head("PSAHead", dict(type="PSAHead", in_channels=16, channels=8, mask_size=(7, 7), norm_cfg=BN)),
    _head("PSAHead-collect", dict(type="PSAHead", in_channels=16, channels=8, mask_size=(5, 5), psa_type="collect",
                                  shrink_factor=1, norm_cfg=BN)),
    _head("SegmenterMaskTransformerHead", dict(type="SegmenterMaskTransformerHead", in_channels=16, channels=16,
                                               num_layers=2, num_heads=2, embed_dims=8, dropout_ratio=0.0)),
    # Upsampling heads: the last map of the inputs is unread and only gives the expected output size.
    _head("SETRUPHead-naive", dict(type="SETRUPHead", in_channels=16, in_index=0, channels=8, num_convs=1,
                                   up_scale=4, kernel_size=1, norm_cfg=BN), _upsampled(((16,),), 4)),
    _head("SETRUPHead-pup", dict(type="SETRUPHead", in_channels=16, in_index=0, channels=8, num_convs=2,
                                 up_scale=2, kernel_size=3, norm_cfg=BN), _upsampled(((16,),), 4)),
    _head("SETRMLAHead", dict(type="SETRMLAHead", in_channels=(8, 16), in_index=(0, 1), channels=8, mla_channels=4,
                              up_scale=2, norm_cfg=BN), _upsampled(((8,), (16,)), 2)),
    _head("DPTHead", dict(type="DPTHead", in_channels=(8, 8, 8, 8), in_index=(0, 1, 2, 3), channels=4,
                          embed_dims=8, post_process_channels=[4, 4, 8, 8], readout_type="ignore",
                          input_transform="multiple_select", norm_cfg=BN), _dpt_inputs(), out_like=4),
]

# -- mask-classification heads (per-layer class and mask logits from the stride-4 level) ---------------
_GN2 = dict(type="GN", num_groups=2)
_MASK_ATTN = dict(embed_dims=8, num_heads=2, attn_drop=0.0, proj_drop=0.0, dropout_layer=None, batch_first=True)
_MASK_DECODER = dict(num_layers=2, layer_cfg=dict(self_attn_cfg=_MASK_ATTN, cross_attn_cfg=_MASK_ATTN,
                                                  ffn_cfg=dict(embed_dims=8, feedforward_channels=12)))
_MASK_COMMON = dict(in_channels=[4, 8, 12, 16], feat_channels=8, out_channels=8, num_classes=5, num_queries=3,
                    positional_encoding=dict(num_feats=4, normalize=True),
                    loss_cls=dict(type="mmdet.CrossEntropyLoss", class_weight=[1.0] * 5 + [0.1]))
CASES += [
    Case("MaskFormerHead", "mask_head", dict(
        type="MaskFormerHead", pixel_decoder=dict(type="mmdet.PixelDecoder", norm_cfg=_GN2),
        transformer_decoder=_MASK_DECODER, **_MASK_COMMON), PYRAMID, out_like=0, mask_layers=2),
    Case("MaskFormerHead-transformer-encoder", "mask_head", dict(
        type="MaskFormerHead", transformer_decoder=_MASK_DECODER, **_MASK_COMMON,
        pixel_decoder=dict(type="mmdet.TransformerEncoderPixelDecoder", norm_cfg=_GN2,
                           positional_encoding=dict(num_feats=4, normalize=True),
                           encoder=dict(num_layers=1, layer_cfg=dict(
                               self_attn_cfg=dict(embed_dims=8, num_heads=2),
                               ffn_cfg=dict(embed_dims=8, feedforward_channels=12))))), PYRAMID, out_like=0,
         mask_layers=2),
    Case("Mask2FormerHead", "mask_head", dict(
        type="Mask2FormerHead", num_transformer_feat_level=3, transformer_decoder=_MASK_DECODER, **_MASK_COMMON,
        pixel_decoder=dict(type="mmdet.MSDeformAttnPixelDecoder", num_outs=3, norm_cfg=_GN2,
                           positional_encoding=dict(num_feats=4, normalize=True),
                           encoder=dict(num_layers=1, layer_cfg=dict(
                               self_attn_cfg=dict(embed_dims=8, num_heads=2, num_levels=3, num_points=2,
                                                  dropout=0.0),
                               ffn_cfg=dict(embed_dims=8, feedforward_channels=12))))), PYRAMID, out_like=0,
         mask_layers=3),
]

# -- real-time networks (BiSeNet, STDC, Fast-SCNN, MobileNetV3, PIDNet, DDRNet) ---------------------
_TINY_R18 = dict(type="ResNetV1c", **_RESNET)  # out_channels 8, 16, 32, 64
_STDC_TINY = dict(type="STDCNet", stdc_type="STDCNet1", in_channels=3, channels=(8, 16, 32, 64, 128),
                  bottleneck_type="cat", norm_cfg=BN, act_cfg=dict(type="ReLU"))


def _lraspp_inputs() -> tuple[tuple[Shape, ...], ...]:
    # LR-ASPP's 49x49 image pool needs a deepest map of at least 49x49 (stride 8 of a >= 392 px image).
    return (((BATCH, 4, 99, 101), (BATCH, 6, 50, 51), (BATCH, 8, 50, 51)),
            ((BATCH, 4, 98, 98), (BATCH, 6, 49, 49), (BATCH, 8, 49, 49)))


def _bilateral(name: str, cfg: dict) -> Case:
    """PIDNet/DDRNet (16 channels at stride 8) on images whose stride-64 context map is larger than 1x1,
    so train-mode BN there normalises more than one value per sample."""
    images = (((BATCH, 3, 129, 131),), ((BATCH, 3, 128, 128),))
    return Case(name, "backbone", cfg, images, out_channels=(16,), out_strides=(8,))


def _maps(*channels: int) -> tuple[tuple[Shape, ...], ...]:
    """Same-size maps (stride 8 of IMAGE_SIZES) with the given channels, e.g. PIDNet's (P, fused, D)."""
    return tuple(tuple((BATCH, c, math.ceil(h / 8), math.ceil(w / 8)) for c in channels) for h, w in IMAGE_SIZES)


CASES += [
    _backbone("BiSeNetV2-tiny", dict(type="BiSeNetV2", detail_channels=(8, 8, 16), semantic_channels=(4, 8, 8, 16),
                                     semantic_expansion_ratio=2, bga_channels=16, norm_cfg=BN),
              (16, 4, 8, 8, 16), (8, 4, 8, 16, 32)),
    _backbone("BiSeNetV1-r18-tiny", dict(type="BiSeNetV1", backbone_cfg=_TINY_R18, spatial_channels=(8, 8, 8, 16),
                                         context_channels=(16, 32, 64), out_channels=16, norm_cfg=BN),
              (16, 16, 16), (8, 8, 16)),
    _backbone("STDCNet1-cat-tiny", _STDC_TINY, (32, 64, 128), (8, 16, 32)),
    _backbone("STDCNet2-add-final-conv", dict(_STDC_TINY, stdc_type="STDCNet2", bottleneck_type="add",
                                              channels=(8, 16, 16, 32, 64), with_final_conv=True),
              (16, 32, 1024), (8, 16, 32)),
    _backbone("STDCContextPathNet-tiny", dict(type="STDCContextPathNet", backbone_cfg=_STDC_TINY,
                                              last_in_channels=(128, 64), out_channels=16, norm_cfg=BN,
                                              ffm_cfg=dict(in_channels=48, out_channels=32, scale_factor=4)),
              (32, 16, 16, 32), (8, 16, 8, 8)),
    _backbone("FastSCNN-tiny", dict(type="FastSCNN", downsample_dw_channels=(8, 12), global_in_channels=16,
                                    global_block_channels=(16, 24, 32), global_out_channels=32, higher_in_channels=16,
                                    lower_in_channels=32, fusion_out_channels=32, norm_cfg=BN),
              (16, 32, 32), (8, 32, 8)),
    _backbone("MobileNetV3-small", dict(type="MobileNetV3", arch="small", out_indices=(0, 1, 12), norm_cfg=BN),
              (16, 16, 576), (2, 4, 8)),
    _backbone("MobileNetV3-large-reduced", dict(type="MobileNetV3", arch="large", out_indices=(1, 3, 16),
                                                reduction_factor=2, norm_cfg=BN), (16, 24, 960), (2, 4, 8)),
    _bilateral("PIDNet-tiny-s", dict(type="PIDNet", channels=4, ppm_channels=8, num_stem_blocks=2,
                                     num_branch_blocks=2, norm_cfg=BN)),
    _bilateral("PIDNet-tiny-l", dict(type="PIDNet", channels=4, ppm_channels=8, num_stem_blocks=3,
                                     num_branch_blocks=2, norm_cfg=BN)),
    _bilateral("DDRNet-tiny", dict(type="DDRNet", channels=4, ppm_channels=8, norm_cfg=BN)),
    _head("STDCHead", dict(type="STDCHead", in_channels=16, channels=8, num_convs=1, concat_input=False,
                           num_classes=2, out_channels=1, norm_cfg=BN,
                           loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=True))),
    _head("LRASPPHead", dict(type="LRASPPHead", in_channels=(4, 6, 8), in_index=(0, 1, 2), channels=8,
                             input_transform="multiple_select", branch_channels=(4, 4), norm_cfg=BN),
          _lraspp_inputs(), out_like=0),
    _head("PIDHead", dict(type="PIDHead", in_channels=16, channels=8, norm_cfg=BN), _maps(8, 16, 8), out_like=1),
    _head("DDRHead", dict(type="DDRHead", in_channels=16, channels=8, norm_cfg=BN), _maps(8, 16), out_like=-1),
]

# -- Twins (PCPVT, SVT): corner-padded patch embeddings give ceil(H / stride) maps; SVT's windows pad ------------
CASES += [
    _backbone("PCPVT-tiny", dict(type="PCPVT", embed_dims=[8, 8, 16, 16], num_heads=[1, 2, 2, 4], depths=[1, 1, 1, 1],
                                 mlp_ratios=[2, 2, 2, 2], qkv_bias=True, norm_after_stage=True),
              (8, 8, 16, 16), _STRIDES),
    _backbone("SVT-2-stages", dict(type="SVT", embed_dims=[8, 16], num_heads=[1, 2], patch_sizes=[4, 2], strides=[4, 2],
                                   mlp_ratios=[2, 2], depths=[2, 2], sr_ratios=[2, 1], windiow_sizes=[3, 2],
                                   out_indices=(0, 1), drop_path_rate=0.1), (8, 16), (4, 8)),
]


def _vpd_inputs() -> tuple[tuple[Shape, ...], ...]:
    """VPD's pyramid (strides 8..64; channels 16, 8, 8, 8) plus an unread map of the output size (32x the 1/32 map)."""
    variants = []
    for maps, (h, w) in zip(feature_shapes((16, 8, 8, 8), (8, 16, 32, 64)), IMAGE_SIZES):
        variants.append((*maps, (BATCH, 1, 32 * math.ceil(h / 32), 32 * math.ceil(w / 32))))
    return tuple(variants)


# A depth head: no num_classes; its one output channel is declared with out_channels=(1,).
CASES += [
    Case("VPDDepthHead", "head", dict(type="VPDDepthHead", in_channels=(16, 8, 8, 8), embed_dim=2, feature_dim=16,
                                      num_deconv_filters=(4, 4, 4), max_depth=10.0), _vpd_inputs(), out_channels=(1,)),
]


# -- SAN's head: input [image, CLIP features ([map, cls token] per fused layer), class embeddings] ----------
def _san_call(model: object, x: list) -> object:
    """maps = [image, clip map 0, clip map 1, cls 0, cls 1, class embeds] -> semantic logits at the image size."""
    image, maps, tokens, embeds = x[0], x[1:3], x[3:5], x[5]
    hw = tuple(image.shape[2:])
    return model.predict([image, [[m, t] for m, t in zip(maps, tokens)], embeds], [dict(img_shape=hw, pad_shape=hw)])


def _san_inputs(*sizes: tuple[int, int]) -> tuple[tuple[Shape, ...], ...]:
    # CLIP features at half the side adapter's grid (stride 32, as SAN's half-resolution CLIP input).
    return tuple(((BATCH, 3, h, w), *[(BATCH, 8, math.ceil(h / 32), math.ceil(w / 32))] * 2, (BATCH, 8), (BATCH, 8),
                  (6, 8)) for h, w in sizes)


CASES += [
    Case("SideAdapterCLIPHead", "head", dict(
        type="SideAdapterCLIPHead", num_classes=5, deep_supervision_idxs=[1], train_cfg=None,
        san_cfg=dict(in_channels=3, clip_channels=8, embed_dims=8, patch_size=16, num_queries=4, fusion_index=[0, 1],
                     cfg_encoder=dict(num_encode_layer=2, num_heads=2, mlp_ratio=2),
                     cfg_decoder=dict(num_heads=2, num_layers=1, embed_channels=8, mlp_channels=8, num_mlp=2,
                                      rescale=True)),
        maskgen_cfg=dict(sos_token_num=4, num_layers=1, embed_dims=8, num_heads=2, mlp_ratio=2, out_dims=8,
                         act_cfg=dict(type="QuickGELU"), frozen_exclude=["all"])),
        _san_inputs((64, 64), (80, 48)), out_like=0, call=_san_call),
]

# K-Net: a tiny FCN generate head (its classifier weights are the first kernels) and two update stages.
_KNET_STAGE = dict(type="KernelUpdateHead", num_classes=5, num_heads=2, num_mask_fcs=1, feedforward_channels=16,
                   in_channels=8, out_channels=8, feat_transform_cfg=dict(conv_cfg=dict(type="Conv2d"), act_cfg=None),
                   kernel_updator_cfg=dict(type="KernelUpdator", in_channels=4, feat_channels=4, out_channels=4))
CASES += [
    Case("IterativeDecodeHead", "head", dict(
        type="IterativeDecodeHead", num_stages=2, kernel_update_head=[_KNET_STAGE, _KNET_STAGE],
        kernel_generate_head=dict(type="FCNHead", in_channels=16, channels=8, num_convs=1, num_classes=5,
                                  norm_cfg=BN)), TWO_LEVEL),
]

CASES += [
    # Patchify stems without padding floor odd sizes (as mmpretrain): sizes divisible by the largest stride.
    Case("ConvNeXt-tiny-arch", "backbone", dict(
        type="ConvNeXt", arch=dict(depths=[1, 2, 1], channels=[4, 8, 16]), out_indices=[0, 1, 2],
        gap_before_final_norm=False, drop_path_rate=0.1, layer_scale_init_value=1.0),
        _images((48, 80), (64, 64)), out_channels=(4, 8, 16), out_strides=(4, 8, 16)),
    Case("ConvNeXt-v2-conv-pw", "backbone", dict(
        type="ConvNeXt", arch=dict(depths=[1, 1], channels=[4, 8]), use_grn=True, linear_pw_conv=False,
        layer_scale_init_value=0.0, out_indices=[0, 1], gap_before_final_norm=False),
        _images((24, 40), (64, 64)), out_channels=(4, 8), out_strides=(4, 8)),
    Case("PoolFormer-tiny-arch", "backbone", dict(
        type="PoolFormer", arch=dict(layers=[1, 1, 1], embed_dims=[4, 8, 16]), out_indices=(0, 1, 2, 4),
        drop_path_rate=0.1), _images((48, 80), (64, 64)), out_channels=(4, 8, 8, 16), out_strides=(4, 8, 8, 16)),
]

CASES += [
    Case("TIMMBackbone-resnet18", "backbone", dict(type="TIMMBackbone", model_name="resnet18", out_indices=(1, 2, 3, 4)),
         IMAGES, out_channels=(64, 128, 256, 512), out_strides=(4, 8, 16, 32), requires="timm"),
]

# -- ICNet (+ ICNeck), CGNet, ERFNet, PointRend's PointHead ---------------------------------------------
_ICNET_R18 = dict(_TINY_R18, dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1))  # layer2 16, layer4 64 channels
CASES += [
    # ICNet halves the image twice inside and its max-pool rounds up: at 56 and 120 px every branch is at
    # ceil(H / stride) (at 64 px the stride-16 branch has 5 rows, as in MMSeg).
    Case("ICNet-r18-tiny", "backbone", dict(type="ICNet", backbone_cfg=_ICNET_R18, layer_channels=(16, 64),
                                            light_branch_middle_channels=4, psp_out_channels=8,
                                            out_channels=(4, 8, 8), norm_cfg=BN),
         _images((56, 120), (120, 56)), out_channels=(4, 8, 8), out_strides=(8, 16, 32)),
    Case("ICNeck", "neck", dict(type="ICNeck", in_channels=(8, 12, 16), out_channels=6, norm_cfg=BN),
         tuple(shapes[1:] for shapes in PYRAMID),
         neck_out=lambda s: [(s[1][0], 6, *s[1][2:]), (s[0][0], 6, *s[0][2:]), (s[0][0], 6, *s[0][2:])]),
    _backbone("CGNet-tiny", dict(type="CGNet", num_channels=(4, 8, 16), num_blocks=(1, 2), reductions=(2, 4),
                                 norm_cfg=BN), (7, 19, 32), (2, 4, 8)),
    # ERFNet's transposed convs double exactly: sizes divisible by 8 keep the output at H/2.
    Case("ERFNet-tiny", "backbone", dict(type="ERFNet", enc_downsample_channels=(4, 8, 16),
                                         enc_stage_non_bottlenecks=(1, 4), enc_non_bottleneck_dilations=(2, 4),
                                         enc_non_bottleneck_channels=(8, 16), dec_upsample_channels=(8, 4),
                                         dec_stages_non_bottleneck=(1, 1), dec_non_bottleneck_channels=(8, 4)),
         _images((64, 64), (40, 56)), out_channels=(4,), out_strides=(2,)),
    _cascade_head("PointHead", dict(type="PointHead", in_channels=[8], in_index=[0], channels=6, num_fcs=2)),
    _cascade_head("PointHead-no-coarse-each-layer", dict(type="PointHead", in_channels=[8, 16], in_index=[0, 1],
                                                         channels=6, num_fcs=1, coarse_pred_each_layer=False,
                                                         dropout_ratio=0.1), level=0),
]

CASES_BY_NAME: dict[str, Case] = {c.name: c for c in CASES}
assert len(CASES_BY_NAME) == len(CASES), "duplicate contract case names"
