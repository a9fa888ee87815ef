"""ICNeck: ICNet's cascade feature fusion (https://arxiv.org/abs/1704.08545).

Two cascade feature fusion units merge ICNet's stride-32, -16 and -8 branches from coarse to fine. Keys
(MMSeg's layout): ``cff_24.conv_low.*``, ``cff_24.conv_high.*``, ``cff_12.*``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, resize
from ..weight_init import load_pretrained

__all__ = ["CascadeFeatureFusion", "ICNeck"]


class CascadeFeatureFusion(nn.Module):
    """Upsample the low-resolution map, dilated 3x3 conv it, add the 1x1-projected high-resolution map, ReLU.

    ``forward(x_low, x_high)`` returns the fused map and the projected low map (the latter feeds an
    auxiliary head; MMSeg uses ``conv_low``'s output there instead of the paper's extra classifier).
    """

    def __init__(self, low_channels: int, high_channels: int, out_channels: int, conv_cfg: dict | None = None,
                 norm_cfg: dict | None = dict(type="BN"), act_cfg: dict | None = dict(type="ReLU"),  # noqa: B006
                 align_corners: bool = False) -> None:
        super().__init__()
        self.align_corners = align_corners
        kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv_low = ConvModule(low_channels, out_channels, 3, padding=2, dilation=2, **kw)
        self.conv_high = ConvModule(high_channels, out_channels, 1, **kw)

    def forward(self, x_low: torch.Tensor, x_high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x_low: (N, C_low, h, w), x_high: (N, C_high, H, W) -> fused and projected low, both (N, C_out, H, W)."""
        x_low = resize(x_low, size=x_high.shape[2:], mode="bilinear", align_corners=self.align_corners)
        x_low = self.conv_low(x_low)
        return F.relu(x_low + self.conv_high(x_high)), x_low


@MODELS.register_module()
class ICNeck(nn.Module):
    """Fuse ICNet's (sub1, sub2, sub4) maps (strides 8, 16, 32).

    Returns ``(x_24, x_12, x_cff_12)``, each (N, out_channels, ., .): the projected stride-32 map at stride 16,
    the projected stride-16 fusion at stride 8 (both for auxiliary heads) and the final stride-8 fusion.
    """

    def __init__(
        self,
        in_channels: Sequence[int] = (64, 256, 256),
        out_channels: int = 128,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = dict(type="BN"),  # noqa: B006 - never mutated
        act_cfg: dict | None = dict(type="ReLU"),  # noqa: B006
        align_corners: bool = False,
        init_cfg: dict | list | None = None,
    ) -> None:
        super().__init__()
        if len(in_channels) != 3:
            raise ConfigError(f"ICNeck: in_channels must give the 3 ICNet branches' channels, got {in_channels}")
        self.in_channels, self.out_channels = tuple(in_channels), out_channels
        self.align_corners, self.init_cfg = align_corners, init_cfg
        kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg, align_corners=align_corners)
        self.cff_24 = CascadeFeatureFusion(in_channels[2], in_channels[1], out_channels, **kw)
        self.cff_12 = CascadeFeatureFusion(out_channels, in_channels[0], out_channels, **kw)

    def init_weights(self) -> bool:
        """Load ``init_cfg`` Pretrained weights, if configured (otherwise the ConvModules keep their own init, as in MMSeg)."""
        return load_pretrained(self, self.init_cfg)

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """inputs: (sub1, sub2, sub4) -> (x_24, x_12, x_cff_12)."""
        if len(inputs) != 3:
            raise ValueError(f"ICNeck takes the 3 ICNet branch maps, got {len(inputs)}")
        x_sub1, x_sub2, x_sub4 = inputs
        x_cff_24, x_24 = self.cff_24(x_sub4, x_sub2)
        x_cff_12, x_12 = self.cff_12(x_cff_24, x_sub1)
        return x_24, x_12, x_cff_12
