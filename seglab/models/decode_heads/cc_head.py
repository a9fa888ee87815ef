"""CCHead from "CCNet: Criss-Cross Attention for Semantic Segmentation" (https://arxiv.org/abs/1811.11721)."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ...registry import MODELS, ConfigError
from ..layers import CrissCrossAttention
from .fcn_head import FCNHead

__all__ = ["CCHead"]


@MODELS.register_module()
class CCHead(FCNHead):
    """An FCNHead (two convs) applying one shared criss-cross attention ``recurrence`` times in between.

    Two recurrences let every position reach every other one (row then column). Key: ``cca``.
    Other arguments are those of :class:`FCNHead` (``num_convs`` is fixed to 2).
    """

    def __init__(self, recurrence: int = 2, **kwargs) -> None:
        if not isinstance(recurrence, int) or recurrence < 0:
            raise ConfigError(f"CCHead: recurrence must be an int >= 0, got {recurrence!r}")
        super().__init__(num_convs=2, **kwargs)
        self.recurrence = recurrence
        self.cca = CrissCrossAttention(self.channels)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits (N, out_channels, h, w)."""
        x = self._transform_inputs(inputs)
        out = self.convs[0](x)
        for _ in range(self.recurrence):
            out = self.cca(out)
        out = self.convs[1](out)
        if self.concat_input:
            out = self.conv_cat(torch.cat([x, out], dim=1))
        return self.cls_seg(out)
