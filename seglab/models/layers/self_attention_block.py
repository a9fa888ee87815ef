"""General query/key/value self-attention block over 2-D maps (MMSeg's ``SelfAttentionBlock`` layout).

Used by DANet's PAM, ANN's AFNB/APNB and ISA. Keys: ``key_project``, ``query_project``,
``value_project``, ``out_project``; a projection is a bare ``nn.Conv2d`` or ``ConvModule`` (one conv)
or an ``nn.Sequential`` of them (several convs), exactly as MMSeg nests them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import ConfigError
from .conv_module import ConvModule

__all__ = ["SelfAttentionBlock", "build_projection"]


def build_projection(in_channels: int, channels: int, num_convs: int, use_conv_module: bool,
                     conv_cfg: dict | None, norm_cfg: dict | None, act_cfg: dict | None) -> nn.Module:
    """``num_convs`` 1x1 convs (ConvModules when ``use_conv_module``); one conv is returned unwrapped."""
    if num_convs < 1:
        raise ConfigError(f"a projection needs at least one conv, got num_convs={num_convs}")
    convs: list[nn.Module] = []
    for i in range(num_convs):
        c_in = in_channels if i == 0 else channels
        if use_conv_module:
            convs.append(ConvModule(c_in, channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg))
        else:
            convs.append(nn.Conv2d(c_in, channels, 1))
    return convs[0] if len(convs) == 1 else nn.Sequential(*convs)


class SelfAttentionBlock(nn.Module):
    """softmax(query(q) . key(k)^T) @ value(k), optionally down-sampled and projected out.

    Args:
        key_in_channels, query_in_channels: channels of the key and query feature maps.
        channels: channels of the key/query (and, with ``with_out``, value) embedding.
        out_channels: channels of the result.
        share_key_query: one projection for both key and query (needs equal input channels).
        query_downsample, key_downsample: modules applied to the projected query / key and value
            (e.g. pooling); the result keeps the query's spatial size.
        key_query_num_convs, value_out_num_convs: number of 1x1 convs per projection.
        key_query_norm, value_out_norm: whether those convs are ConvModules (norm + act) or bare convs.
        matmul_norm: scale similarities by ``channels ** -0.5``.
        with_out: add an output projection ``channels -> out_channels``.
    """

    def __init__(
        self,
        key_in_channels: int,
        query_in_channels: int,
        channels: int,
        out_channels: int,
        share_key_query: bool,
        query_downsample: nn.Module | None,
        key_downsample: nn.Module | None,
        key_query_num_convs: int,
        value_out_num_convs: int,
        key_query_norm: bool,
        value_out_norm: bool,
        matmul_norm: bool,
        with_out: bool,
        conv_cfg: dict | None,
        norm_cfg: dict | None,
        act_cfg: dict | None,
    ) -> None:
        super().__init__()
        if share_key_query and key_in_channels != query_in_channels:
            raise ConfigError(f"share_key_query needs equal key/query channels, got {key_in_channels} and "
                              f"{query_in_channels}")
        self.key_in_channels, self.query_in_channels = key_in_channels, query_in_channels
        self.channels, self.out_channels = channels, out_channels
        self.share_key_query = share_key_query
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        layer_cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.key_project = build_projection(key_in_channels, channels, key_query_num_convs, key_query_norm,
                                            **layer_cfg)
        self.query_project = self.key_project if share_key_query else build_projection(
            query_in_channels, channels, key_query_num_convs, key_query_norm, **layer_cfg)
        self.value_project = build_projection(key_in_channels, channels if with_out else out_channels,
                                              value_out_num_convs, value_out_norm, **layer_cfg)
        self.out_project = build_projection(channels, out_channels, value_out_num_convs, value_out_norm,
                                            **layer_cfg) if with_out else None
        self.query_downsample, self.key_downsample = query_downsample, key_downsample
        self.matmul_norm = matmul_norm
        # A bare-conv output projection starts at zero so the block first adds nothing (MMSeg's init).
        if self.out_project is not None and not isinstance(self.out_project, ConvModule):
            for p in self.out_project.parameters():
                nn.init.zeros_(p)

    def forward(self, query_feats: torch.Tensor, key_feats: torch.Tensor) -> torch.Tensor:
        """query_feats (N, Cq, H, W), key_feats (N, Ck, h, w) -> (N, out_channels, H, W)."""
        n = query_feats.size(0)
        query = self.query_project(query_feats)
        if self.query_downsample is not None:
            query = self.query_downsample(query)
        query = query.reshape(n, query.size(1), -1).permute(0, 2, 1)  # (N, Lq, C)
        key, value = self.key_project(key_feats), self.value_project(key_feats)
        if self.key_downsample is not None:
            key, value = self.key_downsample(key), self.key_downsample(value)
        key = key.reshape(n, key.size(1), -1)  # (N, C, Lk)
        value = value.reshape(n, value.size(1), -1).permute(0, 2, 1)  # (N, Lk, Cv)
        sim = torch.matmul(query, key)
        if self.matmul_norm:
            sim = sim * self.channels ** -0.5
        context = torch.matmul(F.softmax(sim, dim=-1), value)  # (N, Lq, Cv)
        context = context.permute(0, 2, 1).reshape(n, -1, *query_feats.shape[2:])
        if self.out_project is not None:
            context = self.out_project(context)
        return context
