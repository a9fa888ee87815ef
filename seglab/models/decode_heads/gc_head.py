"""GCHead from "GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond"
(https://arxiv.org/abs/1904.11492)."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ...registry import MODELS
from ..layers import ContextBlock
from .fcn_head import FCNHead

__all__ = ["GCHead"]


@MODELS.register_module()
class GCHead(FCNHead):
    """An FCNHead (two convs) with a global context block between its two convs (key ``gc_block``).

    Args:
        ratio: bottleneck ratio of the context transforms.
        pooling_type: 'att' or 'avg' context pooling.
        fusion_types: 'channel_add' and/or 'channel_mul'.
        Other arguments are those of :class:`FCNHead` (``num_convs`` is fixed to 2).
    """

    def __init__(self, ratio: float = 1 / 4.0, pooling_type: str = "att",
                 fusion_types: Sequence[str] = ("channel_add",), **kwargs) -> None:
        super().__init__(num_convs=2, **kwargs)
        self.ratio, self.pooling_type, self.fusion_types = ratio, pooling_type, fusion_types
        self.gc_block = ContextBlock(in_channels=self.channels, ratio=ratio, pooling_type=pooling_type,
                                     fusion_types=fusion_types)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h, w)."""
        x = self._transform_inputs(inputs)
        out = self.convs[1](self.gc_block(self.convs[0](x)))
        if self.concat_input:
            out = self.conv_cat(torch.cat([x, out], dim=1))
        return self.cls_seg(out)
