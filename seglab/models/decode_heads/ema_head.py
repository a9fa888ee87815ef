"""EMAHead from "Expectation-Maximization Attention Networks for Semantic Segmentation"
(https://arxiv.org/abs/1907.13426)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule
from .decode_head import BaseDecodeHead

__all__ = ["EMAHead", "EMAModule"]


def _mean_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """Average a tensor across processes when training distributed (identity otherwise)."""
    if not (dist.is_available() and dist.is_initialized()):
        return tensor
    tensor = tensor.clone() / dist.get_world_size()
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


class EMAModule(nn.Module):
    """Expectation-maximisation attention: reconstruct features from ``num_bases`` bases.

    The bases (buffer ``bases``, (1, C, K)) are refined per image by ``num_stages`` EM steps without
    gradients; in training their batch mean updates the buffer with ``momentum``.
    """

    def __init__(self, channels: int, num_bases: int, num_stages: int, momentum: float) -> None:
        super().__init__()
        if num_stages < 1:
            raise ConfigError(f"EMAModule: num_stages must be >= 1, got {num_stages}")
        self.num_bases, self.num_stages, self.momentum = num_bases, num_stages, momentum
        bases = torch.empty(1, channels, num_bases).normal_(0, math.sqrt(2.0 / num_bases))
        self.register_buffer("bases", F.normalize(bases, dim=1, p=2))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """feats: (N, C, H, W) -> reconstruction (N, C, H, W)."""
        n, c, h, w = feats.shape
        feats = feats.reshape(n, c, h * w)
        bases = self.bases.expand(n, -1, -1)
        with torch.no_grad():
            for _ in range(self.num_stages):
                # E-step: responsibilities (N, HW, K); M-step: bases as responsibility-weighted means.
                attention = F.softmax(torch.einsum("bcn,bck->bnk", feats, bases), dim=2)
                normed = F.normalize(attention, dim=1, p=1)
                bases = F.normalize(torch.einsum("bcn,bnk->bck", feats, normed), dim=1, p=2)
        # Bases and responsibilities come from no_grad EM steps, so no gradient flows back through here.
        recon = torch.einsum("bck,bnk->bcn", bases, attention).reshape(n, c, h, w)
        if self.training:
            new = F.normalize(_mean_over_ranks(bases.mean(dim=0, keepdim=True)), dim=1, p=2)
            self.bases = (1 - self.momentum) * self.bases + self.momentum * new
        return recon


@MODELS.register_module()
class EMAHead(BaseDecodeHead):
    """Conv in, EM attention (residual), bottleneck conv, optional concat with the input.

    Args:
        ema_channels: channels of the EM attention.
        num_bases: number of bases K.
        num_stages: EM iterations.
        concat_input: concatenate the input before the classifier through ``conv_cat``.
        momentum: update rate of the bases buffer in training.
        Other arguments are those of :class:`BaseDecodeHead`.
    """

    def __init__(self, ema_channels: int, num_bases: int, num_stages: int, concat_input: bool = True,
                 momentum: float = 0.1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ema_channels, self.num_bases, self.num_stages = ema_channels, num_bases, num_stages
        self.concat_input, self.momentum = concat_input, momentum
        layer_cfg = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.ema_module = EMAModule(ema_channels, num_bases, num_stages, momentum)
        self.ema_in_conv = ConvModule(self.in_channels, ema_channels, 3, padding=1, **layer_cfg)
        # Maps the ReLU output (0, inf) back to (-inf, inf) before EM; frozen as in the paper's code.
        self.ema_mid_conv = ConvModule(ema_channels, ema_channels, 1, conv_cfg=self.conv_cfg, norm_cfg=None,
                                       act_cfg=None)
        for p in self.ema_mid_conv.parameters():
            p.requires_grad = False
        self.ema_out_conv = ConvModule(ema_channels, ema_channels, 1, conv_cfg=self.conv_cfg,
                                       norm_cfg=self.norm_cfg, act_cfg=None)
        self.bottleneck = ConvModule(ema_channels, self.channels, 3, padding=1, **layer_cfg)
        if concat_input:
            self.conv_cat = ConvModule(self.in_channels + self.channels, self.channels, 3, padding=1, **layer_cfg)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h, w)."""
        x = self._transform_inputs(inputs)
        feats = self.ema_in_conv(x)
        recon = self.ema_module(self.ema_mid_conv(feats))
        recon = self.ema_out_conv(F.relu(recon))
        out = self.bottleneck(F.relu(feats + recon))
        if self.concat_input:
            out = self.conv_cat(torch.cat([x, out], dim=1))
        return self.cls_seg(out)
