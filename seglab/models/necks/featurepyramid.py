"""Feature2Pyramid neck (BEiT / MAE segmentation, https://arxiv.org/abs/2106.08254): turns four
same-resolution ViT maps into a 4x / 2x / 1x / 0.5x pyramid.

Keys: ``upsample_4x.{0,3}`` (ConvTranspose2d) with ``upsample_4x.1`` (norm), ``upsample_2x.0``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS, ConfigError
from ..layers.norm import build_norm_layer

__all__ = ["Feature2Pyramid"]

_SCALES = (4, 2, 1, 0.5, 0.25)


@MODELS.register_module()
class Feature2Pyramid(nn.Module):
    """Rescale input ``i`` by ``rescales[i]``: 4 (two 2x2 transposed convs with norm + GELU between),
    2 (one transposed conv), 1 (identity), 0.5 / 0.25 (max pooling).

    As in MMSeg the operations are applied in the fixed order 4, 2, 1, 0.5 when 4 is among ``rescales``
    and 2, 1, 0.5, 0.25 otherwise. Maps (N, embed_dim, h, w) -> tuple of (N, embed_dim, h*s, w*s).
    """

    def __init__(self, embed_dim: int, rescales: Sequence[float] = (4, 2, 1, 0.5),
                 norm_cfg: dict = dict(type="SyncBN", requires_grad=True)) -> None:  # noqa: B006 - never mutated
        super().__init__()
        unknown = [k for k in rescales if k not in _SCALES]
        if unknown:
            raise ConfigError(f"Feature2Pyramid: rescales {list(rescales)} has invalid {unknown}; valid: {_SCALES}")
        self.rescales = list(rescales)
        self.upsample_4x: nn.Module | None = None
        for k in self.rescales:
            if k == 4:
                self.upsample_4x = nn.Sequential(
                    nn.ConvTranspose2d(embed_dim, embed_dim, kernel_size=2, stride=2),
                    build_norm_layer(norm_cfg, embed_dim)[1],
                    nn.GELU(),
                    nn.ConvTranspose2d(embed_dim, embed_dim, kernel_size=2, stride=2))
            elif k == 2:
                self.upsample_2x = nn.Sequential(nn.ConvTranspose2d(embed_dim, embed_dim, kernel_size=2, stride=2))
            elif k == 1:
                self.identity = nn.Identity()
            elif k == 0.5:
                self.downsample_2x = nn.MaxPool2d(kernel_size=2, stride=2)
            else:
                self.downsample_4x = nn.MaxPool2d(kernel_size=4, stride=4)
        order = ("upsample_4x", "upsample_2x", "identity", "downsample_2x") if self.upsample_4x is not None \
            else ("upsample_2x", "identity", "downsample_2x", "downsample_4x")
        missing = [name for name in order[:len(self.rescales)] if getattr(self, name, None) is None]
        if missing:
            raise ConfigError(f"Feature2Pyramid: rescales {self.rescales} must be a prefix of (4, 2, 1, 0.5) or "
                              f"(2, 1, 0.5, 0.25); {missing} would be used without being built")
        self._order = order[:len(self.rescales)]

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Maps (N, C, h, w), one per rescale -> tuple of (N, C, h*s, w*s)."""
        if len(inputs) != len(self.rescales):
            raise ValueError(f"Feature2Pyramid: expected {len(self.rescales)} maps (one per rescale), got {len(inputs)}")
        return tuple(getattr(self, name)(x) for name, x in zip(self._order, inputs))
