"""Non-local block from "Non-local Neural Networks" (https://arxiv.org/abs/1711.07971).

Same constructor and state-dict keys as MMCV's ``NonLocal2d`` (``g``, ``theta``, ``phi``, ``conv_out``,
``concat_project``), so MMSeg's NLHead/DNLHead checkpoints load.
"""
from __future__ import annotations

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from .conv_module import ConvModule

__all__ = ["NonLocal2d"]

_MODES = ("gaussian", "embedded_gaussian", "dot_product", "concatenation")


@MODELS.register_module()
class NonLocal2d(nn.Module):
    """``x + conv_out(softmax-or-linear(theta(x) . phi(x)) @ g(x))`` over all positions of a 2-D map.

    Args:
        in_channels: channels C of the input; the pairwise space has ``max(C // reduction, 1)`` channels.
        reduction: channel reduction of g/theta/phi.
        use_scale: divide embedded-gaussian logits by sqrt(inter_channels).
        conv_cfg: conv layer config of the 1x1 projections (None or Conv2d).
        norm_cfg: norm of ``conv_out`` only (None: conv_out has a bias).
        mode: 'embedded_gaussian', 'gaussian', 'dot_product' or 'concatenation'.
        sub_sample: max-pool (2x2) the g and phi branches, so pairwise terms cover a quarter of the keys.
        std, zeros_init: init of the projections; ``zeros_init`` zeroes conv_out (its norm when present)
            so a fresh block is the identity.
    """

    def __init__(
        self,
        in_channels: int,
        reduction: int = 2,
        use_scale: bool = True,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        mode: str = "embedded_gaussian",
        sub_sample: bool = False,
        std: float = 0.01,
        zeros_init: bool = True,
    ) -> None:
        super().__init__()
        if mode not in _MODES:
            raise ConfigError(f"NonLocal2d: mode must be one of {', '.join(_MODES)}, got {mode!r}")
        self.in_channels, self.reduction, self.use_scale, self.mode = in_channels, reduction, use_scale, mode
        self.inter_channels = max(in_channels // reduction, 1)
        self.sub_sample = sub_sample
        inter = self.inter_channels
        # Registration order (g, conv_out, theta, phi, concat_project) is MMCV's state-dict order.
        self.g: nn.Module = ConvModule(in_channels, inter, 1, conv_cfg=conv_cfg, act_cfg=None)
        self.conv_out = ConvModule(inter, in_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None)
        if mode != "gaussian":
            self.theta = ConvModule(in_channels, inter, 1, conv_cfg=conv_cfg, act_cfg=None)
            self.phi: nn.Module = ConvModule(in_channels, inter, 1, conv_cfg=conv_cfg, act_cfg=None)
        if mode == "concatenation":
            self.concat_project = ConvModule(2 * inter, 1, 1, bias=False, act_cfg=dict(type="ReLU"))
        self._init_weights(std, zeros_init)
        if sub_sample:
            pool = nn.MaxPool2d(kernel_size=(2, 2))
            self.g = nn.Sequential(self.g, pool)
            self.phi = nn.Sequential(self.phi, pool) if mode != "gaussian" else pool

    def _init_weights(self, std: float, zeros_init: bool) -> None:
        projections = [self.g] if self.mode == "gaussian" else [self.g, self.theta, self.phi]
        for m in projections:
            nn.init.normal_(m.conv.weight, 0, std)
            if m.conv.bias is not None:
                nn.init.zeros_(m.conv.bias)
        last = self.conv_out.norm if self.conv_out.norm is not None else self.conv_out.conv
        if zeros_init:
            nn.init.zeros_(last.weight)
        else:
            nn.init.normal_(last.weight, 0, std)
        if last.bias is not None:
            nn.init.zeros_(last.bias)

    def pairwise(self, theta_x: torch.Tensor, phi_x: torch.Tensor) -> torch.Tensor:
        """Attention weights (N, HW, HW') from theta (N, HW, C') and phi (N, C', HW') (4-D for concatenation)."""
        if self.mode == "concatenation":
            # theta: (N, C', HW, 1), phi: (N, C', 1, HW'): score every (query, key) pair by a 1x1 conv.
            hw, hw_k = theta_x.size(2), phi_x.size(3)
            pair = torch.cat([theta_x.expand(-1, -1, hw, hw_k), phi_x.expand(-1, -1, hw, hw_k)], dim=1)
            weight = self.concat_project(pair).squeeze(1)
            return weight / weight.shape[-1]
        weight = torch.matmul(theta_x, phi_x)
        if self.mode == "dot_product":
            return weight / weight.shape[-1]
        if self.mode == "embedded_gaussian" and self.use_scale:
            weight = weight / theta_x.shape[-1] ** 0.5
        return weight.softmax(dim=-1)

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """g (N, HW', C'), theta and phi of x (N, C, H, W) laid out for :meth:`pairwise`."""
        n = x.size(0)
        g_x = self.g(x).reshape(n, self.inter_channels, -1).permute(0, 2, 1)
        if self.mode == "gaussian":
            theta_x = x.reshape(n, self.in_channels, -1).permute(0, 2, 1)
            phi_x = (self.phi(x) if self.sub_sample else x).reshape(n, self.in_channels, -1)
        elif self.mode == "concatenation":
            theta_x = self.theta(x).reshape(n, self.inter_channels, -1, 1)
            phi_x = self.phi(x).reshape(n, self.inter_channels, 1, -1)
        else:
            theta_x = self.theta(x).reshape(n, self.inter_channels, -1).permute(0, 2, 1)
            phi_x = self.phi(x).reshape(n, self.inter_channels, -1)
        return g_x, theta_x, phi_x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) -> (N, C, H, W)."""
        g_x, theta_x, phi_x = self.embed(x)
        y = torch.matmul(self.pairwise(theta_x, phi_x), g_x)  # (N, HW, C')
        y = y.permute(0, 2, 1).reshape(x.size(0), self.inter_channels, *x.shape[2:])
        return x + self.conv_out(y)
