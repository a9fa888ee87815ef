"""APCHead from "Adaptive Pyramid Context Network for Semantic Segmentation" (He et al., CVPR 2019,
https://openaccess.thecvf.com/content_CVPR_2019/papers/He_Adaptive_Pyramid_Context_Network_for_Semantic_Segmentation_CVPR_2019_paper.pdf)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, resize
from .decode_head import BaseDecodeHead

__all__ = ["ACM", "APCHead"]


class ACM(nn.Module):
    """Adaptive context module: every position mixes ``pool_scale**2`` pooled region features with
    sigmoid affinities predicted from its own feature plus the global context; (N, C_in, H, W) -> (N, C, H, W).
    """

    def __init__(self, pool_scale: int, fusion: bool, in_channels: int, channels: int, conv_cfg: dict | None,
                 norm_cfg: dict | None, act_cfg: dict | None) -> None:
        super().__init__()
        self.pool_scale, self.fusion = pool_scale, fusion
        self.in_channels, self.channels = in_channels, channels
        layer_cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.pooled_redu_conv = ConvModule(in_channels, channels, 1, **layer_cfg)
        self.input_redu_conv = ConvModule(in_channels, channels, 1, **layer_cfg)
        self.global_info = ConvModule(channels, channels, 1, **layer_cfg)
        self.gla = nn.Conv2d(channels, pool_scale**2, 1, 1, 0)
        self.residual_conv = ConvModule(channels, channels, 1, **layer_cfg)
        if fusion:
            self.fusion_conv = ConvModule(channels, channels, 1, **layer_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pooled_redu_conv(F.adaptive_avg_pool2d(x, self.pool_scale))
        x = self.input_redu_conv(x)
        n, _, h, w = x.shape
        pooled = pooled.reshape(n, self.channels, -1).permute(0, 2, 1)  # (N, S*S, C)
        global_ctx = resize(self.global_info(F.adaptive_avg_pool2d(x, 1)), size=(h, w))
        affinity = torch.sigmoid(self.gla(x + global_ctx)).permute(0, 2, 3, 1).reshape(n, h * w, -1)
        z = torch.matmul(affinity, pooled).permute(0, 2, 1).reshape(n, self.channels, h, w)
        z = F.relu(self.residual_conv(z) + x)
        return self.fusion_conv(z) if self.fusion else z


@MODELS.register_module()
class APCHead(BaseDecodeHead):
    """One ACM per pool scale, concatenated with the input, fused by a 3x3 ``bottleneck``.

    Args:
        pool_scales: region grid sizes of the ACMs.
        fusion: add a 1x1 ``fusion_conv`` at the end of each ACM.
        Other arguments are those of :class:`BaseDecodeHead`.
    """

    def __init__(self, pool_scales: Sequence[int] = (1, 2, 3, 6), fusion: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(pool_scales, (list, tuple)):
            raise ConfigError(f"APCHead: pool_scales must be a list or tuple, got {pool_scales!r}")
        self.pool_scales, self.fusion = pool_scales, fusion
        layer_cfg = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.acm_modules = nn.ModuleList(
            [ACM(s, fusion, self.in_channels, self.channels, **layer_cfg) for s in pool_scales])
        self.bottleneck = ConvModule(self.in_channels + len(pool_scales) * self.channels, self.channels, 3,
                                     padding=1, **layer_cfg)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h, w)."""
        x = self._transform_inputs(inputs)
        out = self.bottleneck(torch.cat([x] + [acm(x) for acm in self.acm_modules], dim=1))
        return self.cls_seg(out)
