"""SegformerHead, the all-MLP decoder of "SegFormer: Simple and Efficient Design for Semantic Segmentation
with Transformers" (https://arxiv.org/abs/2105.15203).

Keys: ``convs.<i>`` (one 1x1 ConvModule per input level), ``fusion_conv``, ``conv_seg``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS, ConfigError
from ..conv_paths import eager_cpu_inference, plain_weight, pointwise, unhooked
from ..fuse import applied_weight_bias
from ..layers import ConvModule, resize
from .decode_head import BaseDecodeHead

__all__ = ["SegformerHead"]

# Pixels per block of the CPU inference path: a block's 256-channel intermediates (~1 MiB each) stay in cache.
ROWS_PER_BLOCK = 1024


@MODELS.register_module()
class SegformerHead(BaseDecodeHead):
    """Project every level to ``channels`` (1x1 conv-norm-act), resize all to the first level's size with
    ``interpolate_mode``, concatenate, fuse with a 1x1 conv-norm-act, classify.

    Reads the levels ``in_index`` (``input_transform='multiple_select'``); other arguments are those of
    :class:`BaseDecodeHead`. Output: (N, out_channels, h0, w0).

    ``commute_fusion`` (default True) applies each level's slice of the 1x1 fusion conv before resizing
    instead of after: resizing acts on each channel alone and the 1x1 conv mixes channels per pixel, so
    the two commute and the result is the same map within float rounding, without the concatenated
    (N, channels * levels, h0, w0) tensor and with the lower levels' share of the fusion done at their own
    resolution (about a third of the fusion's multiply-adds for SegFormer's four levels). False runs
    MMSeg's order: resize, concatenate, fuse. In gradient-free CPU inference the commuted form also runs level 0,
    the fusion and the classifier block by block over pixels, the same values without full-size intermediates.
    """

    def __init__(self, interpolate_mode: str = "bilinear", commute_fusion: bool = True, **kwargs) -> None:
        transform = kwargs.pop("input_transform", "multiple_select")
        if transform != "multiple_select":
            raise ConfigError(f"SegformerHead reads several levels: input_transform must be 'multiple_select', "
                              f"got {transform!r}")
        super().__init__(input_transform="multiple_select", **kwargs)
        self.interpolate_mode = interpolate_mode
        conv_kw = dict(norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.convs = nn.ModuleList([ConvModule(c, self.channels, 1, **conv_kw) for c in self.in_channels])
        self.fusion_conv = ConvModule(self.channels * len(self.in_channels), self.channels, 1, norm_cfg=self.norm_cfg)
        if not isinstance(commute_fusion, bool):
            raise ConfigError(f"SegformerHead: commute_fusion must be true or false, got {commute_fusion!r}")
        self.commute_fusion = commute_fusion

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Levels (N, C_i, h_i, w_i) -> logits (N, out_channels, h0, w0)."""
        levels = self._transform_inputs(inputs)
        size = levels[0].shape[2:]
        if self.commute_fusion and _plain_1x1(self.fusion_conv):  # what the commuted form computes
            if self._rows_inference(levels[0]):
                return self._logits_by_rows(levels, size)
            return self.cls_seg(self._fuse_then_resize(levels, size))
        projected = [conv(x) for conv, x in zip(self.convs, levels)]
        outs = [resize(p, size=size, mode=self.interpolate_mode, align_corners=self.align_corners) for p in projected]
        return self.cls_seg(self.fusion_conv(torch.cat(outs, dim=1)))

    def _fuse_then_resize(self, levels: list[torch.Tensor], size: torch.Size) -> torch.Tensor:
        """fusion_conv(cat(resize(conv_i(x_i)))) computed as sum_i resize(fusion_i(conv_i(x_i))), then the fusion's
        norm and activation."""
        fusion = self.fusion_conv
        weight, bias, norm_folded = applied_weight_bias(fusion.conv)
        parts = weight.split(self.channels, dim=1)
        # Level 0 defines the output size, so its product (with the bias) starts the sum.
        out = F.conv2d(self.convs[0](levels[0]), parts[0], bias)
        for conv, x, part in zip(self.convs[1:], levels[1:], parts[1:]):
            y = F.conv2d(conv(x), part)
            if y.shape[2:] != size:
                y = resize(y, size=size, mode=self.interpolate_mode, align_corners=self.align_corners)
            out = out.add_(y)
        if fusion.with_norm and not norm_folded:
            out = fusion.norm(out)
        return fusion.activate(out) if fusion.with_activation else out

    def _rows_inference(self, first: torch.Tensor) -> bool:
        """Gradient-free CPU inference whose level 0, fusion and classifier act on each pixel alone (1x1 convs,
        folded or running-statistics BatchNorms, pointwise activations, no hooks): it can run block by block."""
        if not eager_cpu_inference(first) or self.training or first.dim() != 4:
            return False
        fusion, cls, convs = self.fusion_conv, self.conv_seg, list(self.convs)
        per_pixel = all(
            (m.norm is None or (isinstance(m.norm, _BatchNorm) and not m.norm.training
                                and m.norm.running_mean is not None))
            and (not m.with_activation or pointwise(m.activate))
            for m in (*convs, fusion))
        parts = [part for m in (*convs, fusion) for part in (m, m.conv, m.norm, getattr(m, "activate", None))]
        return (per_pixel and all(_plain_1x1(m) for m in convs) and type(cls) is nn.Conv2d
                and cls.kernel_size == (1, 1) and cls.groups == 1 and plain_weight(cls)
                and unhooked(*parts, cls, self.dropout))

    def _logits_by_rows(self, levels: list[torch.Tensor], size: torch.Size) -> torch.Tensor:
        """What the commuted path computes, with level 0, the fusion and the classifier run on blocks of pixels.

        The lower levels' fused shares are resized channels-last and summed once; then for each block of
        ``ROWS_PER_BLOCK`` pixels of level 0: projection, fusion (plus that sum), classifier, so the 256-channel
        full-resolution intermediates never go through memory (the head's largest cost on the CPU). Logits
        (N, out_channels, h0, w0), channels-last.
        """
        level0, fusion, cls = self.convs[0], self.fusion_conv, self.conv_seg
        weight, bias, _ = applied_weight_bias(fusion.conv)
        parts = [p.flatten(1).t() for p in weight.split(self.channels, dim=1)]
        lower = None
        for conv, x, part in zip(self.convs[1:], levels[1:], parts[1:]):
            pixels, (ni, hi, wi) = _pixel_rows(x)
            y = (_per_pixel(conv, _projected(conv, pixels)) @ part).view(ni, hi, wi, -1).permute(0, 3, 1, 2)
            if y.shape[2:] != size:
                y = resize(y, size=size, mode=self.interpolate_mode, align_corners=self.align_corners)
            lower = y if lower is None else lower.add_(y)
        rows, (n, h, w) = _pixel_rows(levels[0])
        lower_rows = None if lower is None else _pixel_rows(lower)[0]
        proj_w, proj_b, _ = applied_weight_bias(level0.conv)
        proj_w, fuse_w, cls_w = proj_w.flatten(1), parts[0], cls.weight.flatten(1).t()
        out = rows.new_empty(n * h * w, cls.out_channels)
        for start in range(0, n * h * w, ROWS_PER_BLOCK):
            block = slice(start, start + ROWS_PER_BLOCK)
            hidden = _per_pixel(level0, F.linear(rows[block], proj_w, proj_b))
            fused = hidden @ fuse_w if lower_rows is None else torch.addmm(lower_rows[block], hidden, fuse_w)
            fused = _per_pixel(fusion, fused if bias is None else fused.add_(bias))
            if cls.bias is None:
                torch.mm(fused, cls_w, out=out[block])
            else:
                torch.addmm(cls.bias, fused, cls_w, out=out[block])
        return out.view(n, h, w, -1).permute(0, 3, 1, 2)


def _pixel_rows(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """A map (N, C, H, W) as pixel rows (N*H*W, C) (a view when it is channels-last) and its (N, H, W)."""
    n, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(n * h * w, c), (n, h, w)


def _projected(module: ConvModule, rows: torch.Tensor) -> torch.Tensor:
    """The 1x1 conv of ``module`` (with any BatchNorm folded into it) applied to pixel rows (P, C_in) -> (P, C_out)."""
    weight, bias, _ = applied_weight_bias(module.conv)
    return F.linear(rows, weight.flatten(1), bias)


def _per_pixel(module: ConvModule, rows: torch.Tensor) -> torch.Tensor:
    """``module``'s norm and activation applied to pixel rows (P, C), seen as the (1, C, P, 1) map they are."""
    x = rows.t()[None, :, :, None]
    if module.with_norm:
        x = module.norm(x)
    if module.with_activation:
        x = module.activate(x)
    return x[0, :, :, 0].t()


def _plain_1x1(module: ConvModule) -> bool:
    """A ConvModule whose conv is a stock 1x1 conv (stride 1, no padding, one group) in the order conv-norm-act."""
    conv = module.conv
    return (type(conv) is nn.Conv2d and conv.kernel_size == (1, 1) and conv.stride == (1, 1)
            and conv.padding == (0, 0) and conv.groups == 1 and module.order == ("conv", "norm", "act")
            and plain_weight(conv))
