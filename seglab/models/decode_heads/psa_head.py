"""PSAHead from "PSANet: Point-wise Spatial Attention Network for Scene Parsing"
(https://hszhao.github.io/papers/eccv18_psanet.pdf), without compiled ops."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, PSAMask, resize
from .decode_head import BaseDecodeHead

__all__ = ["PSAHead"]

_TYPES = ("collect", "distribute", "bi-direction")


@MODELS.register_module()
class PSAHead(BaseDecodeHead):
    """Point-wise spatial attention: each position predicts a ``mask_size`` window of attention weights
    for collecting from and/or distributing to the others, on a map shrunk by ``shrink_factor``.

    Args:
        mask_size: (mask_h, mask_w) attention window; usually about twice the shrunk feature size so one
            window covers the map.
        psa_type: 'collect', 'distribute' or 'bi-direction' (both branches, keys ``reduce_p``,
            ``attention_p``).
        compact: predict the over-the-map attention directly (needs mask_h*mask_w == h*w) instead of
            laying out the window with :class:`PSAMask`.
        shrink_factor: down-sampling of the map before attention.
        normalization_factor: divides the aggregated features; None means mask_h * mask_w.
        psa_softmax: softmax the attention over source positions.
        Other arguments are those of :class:`BaseDecodeHead`.
    """

    def __init__(self, mask_size: Sequence[int], psa_type: str = "bi-direction", compact: bool = False,
                 shrink_factor: int = 2, normalization_factor: float | None = 1.0, psa_softmax: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if psa_type not in _TYPES:
            raise ConfigError(f"PSAHead: psa_type must be one of {_TYPES}, got {psa_type!r}")
        self.psa_type, self.compact, self.shrink_factor = psa_type, compact, shrink_factor
        self.mask_size = tuple(mask_size)
        mask_h, mask_w = self.mask_size
        self.psa_softmax = psa_softmax
        self.normalization_factor = mask_h * mask_w if normalization_factor is None else normalization_factor
        layer_cfg = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.reduce = ConvModule(self.in_channels, self.channels, 1, **layer_cfg)
        self.attention = nn.Sequential(ConvModule(self.channels, self.channels, 1, **layer_cfg),
                                       nn.Conv2d(self.channels, mask_h * mask_w, 1, bias=False))
        if psa_type == "bi-direction":
            self.reduce_p = ConvModule(self.in_channels, self.channels, 1, **layer_cfg)
            self.attention_p = nn.Sequential(ConvModule(self.channels, self.channels, 1, **layer_cfg),
                                             nn.Conv2d(self.channels, mask_h * mask_w, 1, bias=False))
            self.psamask_collect = PSAMask("collect", self.mask_size)
            self.psamask_distribute = PSAMask("distribute", self.mask_size)
        else:
            self.psamask = PSAMask(psa_type, self.mask_size)
        # padding=1 on a 1x1 conv grows the map by 2; the resize below undoes it (MMSeg's layout).
        self.proj = ConvModule(self.channels * (2 if psa_type == "bi-direction" else 1), self.in_channels, 1,
                               padding=1, **layer_cfg)
        self.bottleneck = ConvModule(self.in_channels * 2, self.channels, 3, padding=1, **layer_cfg)

    def _shrink(self, feats: list[torch.Tensor]) -> tuple[list[torch.Tensor], bool]:
        """Down-sample maps by ``shrink_factor``; return them and the align_corners used."""
        align_corners = self.align_corners
        if self.shrink_factor == 1:
            return feats, align_corners
        h, w = feats[0].shape[2:]
        s = self.shrink_factor
        # Odd-sized maps keep their corners aligned (size (h-1)/s + 1), as in PSANet.
        if h % s and w % s:
            size, align_corners = ((h - 1) // s + 1, (w - 1) // s + 1), True
        else:
            size, align_corners = (h // s, w // s), False
        return [resize(f, size=size, mode="bilinear", align_corners=align_corners) for f in feats], align_corners

    def _aggregate(self, feats: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
        """out[:, :, p] = sum_q feats[:, :, q] * attn[:, q, p] / normalization_factor; (N, C, h, w)."""
        n, c, h, w = feats.shape
        if self.psa_softmax:
            attn = F.softmax(attn, dim=1)
        out = torch.bmm(feats.reshape(n, c, h * w), attn.reshape(n, h * w, h * w))
        return out.reshape(n, c, h, w) * (1.0 / self.normalization_factor)

    @staticmethod
    def _transpose_compact(y: torch.Tensor) -> torch.Tensor:
        """Swap source and target positions of a compact (N, hw, h, w) attention."""
        n, hw, h, w = y.shape
        return y.reshape(n, hw, hw).transpose(1, 2).reshape(n, hw, h, w)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h, w)."""
        x = self._transform_inputs(inputs)
        if self.psa_type in ("collect", "distribute"):
            (out,), align_corners = self._shrink([self.reduce(x)])
            y = self.attention(out)
            if not self.compact:
                y = self.psamask(y)
            elif self.psa_type == "collect":
                y = self._transpose_compact(y)
            out = self._aggregate(out, y)
        else:
            (x_col, x_dis), align_corners = self._shrink([self.reduce(x), self.reduce_p(x)])
            y_col, y_dis = self.attention(x_col), self.attention_p(x_dis)
            if self.compact:
                y_dis = self._transpose_compact(y_dis)
            else:
                y_col, y_dis = self.psamask_collect(y_col), self.psamask_distribute(y_dis)
            out = torch.cat([self._aggregate(x_col, y_col), self._aggregate(x_dis, y_dis)], dim=1)
        out = resize(self.proj(out), size=x.shape[2:], mode="bilinear", align_corners=align_corners)
        return self.cls_seg(self.bottleneck(torch.cat([x, out], dim=1)))
