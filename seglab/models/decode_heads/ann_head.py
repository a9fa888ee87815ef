"""ANNHead from "Asymmetric Non-local Neural Networks for Semantic Segmentation"
(https://arxiv.org/abs/1908.07678)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, SelfAttentionBlock
from .decode_head import BaseDecodeHead

__all__ = ["AFNB", "APNB", "ANNHead", "PPMConcat"]


class PPMConcat(nn.ModuleList):
    """Adaptive average pools at ``pool_scales``, flattened and concatenated: (N, C, H, W) -> (N, C, S)."""

    def __init__(self, pool_scales: Sequence[int] = (1, 3, 6, 8)) -> None:
        super().__init__([nn.AdaptiveAvgPool2d(s) for s in pool_scales])

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """S = sum of scale**2 sampled keys."""
        return torch.cat([pool(feats).flatten(2) for pool in self], dim=2)


def _asymmetric_block(low_in_channels: int, high_in_channels: int, channels: int, out_channels: int,
                      share_key_query: bool, query_scale: int, key_pool_scales: Sequence[int],
                      conv_cfg: dict | None, norm_cfg: dict | None, act_cfg: dict | None) -> SelfAttentionBlock:
    """Attention whose keys/values are pyramid-pooled (few keys) and queries optionally max-pooled."""
    return SelfAttentionBlock(
        key_in_channels=low_in_channels, query_in_channels=high_in_channels, channels=channels,
        out_channels=out_channels, share_key_query=share_key_query,
        query_downsample=nn.MaxPool2d(kernel_size=query_scale) if query_scale > 1 else None,
        key_downsample=PPMConcat(key_pool_scales), key_query_num_convs=1, value_out_num_convs=1,
        key_query_norm=True, value_out_norm=False, matmul_norm=True, with_out=True,
        conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
    )


class AFNB(nn.Module):
    """Asymmetric fusion non-local block: high-level queries attend to pooled low-level keys (keys ``stages``,
    ``bottleneck``); (N, C_low, H, W), (N, C_high, H, W) -> (N, out_channels, H, W)."""

    def __init__(self, low_in_channels: int, high_in_channels: int, channels: int, out_channels: int,
                 query_scales: Sequence[int], key_pool_scales: Sequence[int], conv_cfg: dict | None,
                 norm_cfg: dict | None, act_cfg: dict | None) -> None:
        super().__init__()
        self.stages = nn.ModuleList([
            _asymmetric_block(low_in_channels, high_in_channels, channels, out_channels, False, s, key_pool_scales,
                              conv_cfg, norm_cfg, act_cfg)
            for s in query_scales
        ])
        self.bottleneck = ConvModule(out_channels + high_in_channels, out_channels, 1, conv_cfg=conv_cfg,
                                     norm_cfg=norm_cfg, act_cfg=None)

    def forward(self, low_feats: torch.Tensor, high_feats: torch.Tensor) -> torch.Tensor:
        context = torch.stack([stage(high_feats, low_feats) for stage in self.stages]).sum(dim=0)
        return self.bottleneck(torch.cat([context, high_feats], dim=1))


class APNB(nn.Module):
    """Asymmetric pyramid non-local block: self-attention with pooled keys (shared key/query projection);
    (N, C, H, W) -> (N, out_channels, H, W)."""

    def __init__(self, in_channels: int, channels: int, out_channels: int, query_scales: Sequence[int],
                 key_pool_scales: Sequence[int], conv_cfg: dict | None, norm_cfg: dict | None,
                 act_cfg: dict | None) -> None:
        super().__init__()
        self.stages = nn.ModuleList([
            _asymmetric_block(in_channels, in_channels, channels, out_channels, True, s, key_pool_scales,
                              conv_cfg, norm_cfg, act_cfg)
            for s in query_scales
        ])
        self.bottleneck = ConvModule(2 * in_channels, out_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                     act_cfg=act_cfg)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        context = torch.stack([stage(feats, feats) for stage in self.stages]).sum(dim=0)
        return self.bottleneck(torch.cat([context, feats], dim=1))


@MODELS.register_module()
class ANNHead(BaseDecodeHead):
    """AFNB fuses two backbone levels, a 3x3 bottleneck, then APNB adds pyramid context.

    Reads two inputs (``input_transform='multiple_select'`` is implied): ``in_channels=[low, high]``.

    Args:
        project_channels: key/query channels of both non-local blocks.
        query_scales: max-pool factors of the queries (one attention stage each).
        key_pool_scales: adaptive pooling sizes of the keys.
        Other arguments are those of :class:`BaseDecodeHead`.
    """

    def __init__(self, project_channels: int, query_scales: Sequence[int] = (1,),
                 key_pool_scales: Sequence[int] = (1, 3, 6, 8), **kwargs) -> None:
        super().__init__(input_transform="multiple_select", **kwargs)
        if len(self.in_channels) != 2:
            raise ConfigError(f"ANNHead reads two feature maps: in_channels must have 2 entries, "
                              f"got {self.in_channels}")
        low_in_channels, high_in_channels = self.in_channels
        self.project_channels = project_channels
        layer_cfg = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.fusion = AFNB(low_in_channels=low_in_channels, high_in_channels=high_in_channels,
                           channels=project_channels, out_channels=high_in_channels, query_scales=query_scales,
                           key_pool_scales=key_pool_scales, **layer_cfg)
        self.bottleneck = ConvModule(high_in_channels, self.channels, 3, padding=1, **layer_cfg)
        self.context = APNB(in_channels=self.channels, channels=project_channels, out_channels=self.channels,
                            query_scales=query_scales, key_pool_scales=key_pool_scales, **layer_cfg)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h, w) at the high-level map's size."""
        low_feats, high_feats = self._transform_inputs(inputs)
        out = self.fusion(low_feats, high_feats)
        if self.dropout is not None:
            out = self.dropout(out)
        out = self.context(self.bottleneck(out))
        return self.cls_seg(out)
