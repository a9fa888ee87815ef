"""A learnable scalar multiplier (MMCV's ``Scale``; key ``scale``)."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["Scale"]


class Scale(nn.Module):
    """Multiply the input by one learnable scalar initialised to ``scale``."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale, dtype=torch.float))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: any shape -> same shape."""
        return x * self.scale
