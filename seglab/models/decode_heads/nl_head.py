"""NLHead from "Non-local Neural Networks" (https://arxiv.org/abs/1711.07971)."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ...registry import MODELS
from ..layers import NonLocal2d
from .fcn_head import FCNHead

__all__ = ["NLHead"]


@MODELS.register_module()
class NLHead(FCNHead):
    """An FCNHead (two convs) with a non-local block between its two convs (key ``nl_block``).

    Args:
        reduction: channel reduction inside the non-local block.
        use_scale: scale embedded-gaussian logits by 1/sqrt(inter_channels).
        mode: 'embedded_gaussian', 'dot_product', 'gaussian' or 'concatenation'.
        Other arguments are those of :class:`FCNHead` (``num_convs`` is fixed to 2).
    """

    def __init__(self, reduction: int = 2, use_scale: bool = True, mode: str = "embedded_gaussian",
                 **kwargs) -> None:
        super().__init__(num_convs=2, **kwargs)
        self.reduction, self.use_scale, self.mode = reduction, use_scale, mode
        self.nl_block = NonLocal2d(in_channels=self.channels, reduction=reduction, use_scale=use_scale,
                                   conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, mode=mode)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h, w)."""
        x = self._transform_inputs(inputs)
        out = self.convs[1](self.nl_block(self.convs[0](x)))
        if self.concat_input:
            out = self.conv_cat(torch.cat([x, out], dim=1))
        return self.cls_seg(out)
