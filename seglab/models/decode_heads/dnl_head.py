"""DNLHead from "Disentangled Non-Local Neural Networks" (https://arxiv.org/abs/2006.06668)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS
from ..layers import NonLocal2d
from .fcn_head import FCNHead

__all__ = ["DNLHead", "DisentangledNonLocal2d"]


class DisentangledNonLocal2d(NonLocal2d):
    """Non-local block split into a whitened pairwise term and a unary term (extra key ``conv_mask``).

    Pairwise: keys and queries are centred over positions and logits divided by ``temperature``.
    Unary: a softmax over positions of ``conv_mask(x)`` pools one g-vector added at every position.
    """

    def __init__(self, in_channels: int, *, temperature: float, **kwargs) -> None:
        super().__init__(in_channels, **kwargs)
        self.temperature = temperature
        self.conv_mask = nn.Conv2d(self.in_channels, 1, kernel_size=1)

    def pairwise(self, theta_x: torch.Tensor, phi_x: torch.Tensor) -> torch.Tensor:
        """Like NonLocal2d, with temperature on the embedded-gaussian logits."""
        if self.mode != "embedded_gaussian":
            return super().pairwise(theta_x, phi_x)
        weight = torch.matmul(theta_x, phi_x)
        if self.use_scale:
            weight = weight / theta_x.shape[-1] ** 0.5
        return (weight / self.temperature).softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) -> (N, C, H, W)."""
        n = x.size(0)
        g_x, theta_x, phi_x = self.embed(x)
        theta_x = theta_x - theta_x.mean(dim=-2, keepdim=True)
        phi_x = phi_x - phi_x.mean(dim=-1, keepdim=True)
        if self.mode == "gaussian":
            # theta is x itself here and MMSeg centres it in place, so the residual and the unary
            # branch below see the centred x too; keep those numbers.
            x = theta_x.permute(0, 2, 1).reshape(x.shape)
        y = torch.matmul(self.pairwise(theta_x, phi_x), g_x)  # (N, HW, C')
        y = y.permute(0, 2, 1).reshape(n, self.inter_channels, *x.shape[2:])
        unary = self.conv_mask(x).reshape(n, 1, -1).softmax(dim=-1)  # (N, 1, HW)
        unary_x = torch.matmul(unary, g_x).permute(0, 2, 1).reshape(n, self.inter_channels, 1, 1)
        return x + self.conv_out(y + unary_x)


@MODELS.register_module()
class DNLHead(FCNHead):
    """An FCNHead (two convs) with a disentangled non-local block between its convs (key ``dnl_block``).

    Args:
        reduction: channel reduction inside the block.
        use_scale: scale embedded-gaussian logits by 1/sqrt(inter_channels).
        mode: non-local mode (see :class:`NonLocal2d`).
        temperature: divides the pairwise logits (embedded_gaussian).
        Other arguments are those of :class:`FCNHead` (``num_convs`` is fixed to 2).
    """

    def __init__(self, reduction: int = 2, use_scale: bool = True, mode: str = "embedded_gaussian",
                 temperature: float = 0.05, **kwargs) -> None:
        super().__init__(num_convs=2, **kwargs)
        self.reduction, self.use_scale, self.mode, self.temperature = reduction, use_scale, mode, temperature
        self.dnl_block = DisentangledNonLocal2d(in_channels=self.channels, reduction=reduction, use_scale=use_scale,
                                                conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, mode=mode,
                                                temperature=temperature)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h, w)."""
        x = self._transform_inputs(inputs)
        out = self.convs[1](self.dnl_block(self.convs[0](x)))
        if self.concat_input:
            out = self.conv_cat(torch.cat([x, out], dim=1))
        return self.cls_seg(out)
