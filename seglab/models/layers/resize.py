"""Interpolation helper used by every head and segmentor."""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

__all__ = ["resize", "Upsample"]


def resize(
    input: torch.Tensor,  # noqa: A002 - MMSeg's name
    size: tuple[int, int] | torch.Size | None = None,
    scale_factor: float | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    warning: bool = True,
) -> torch.Tensor:
    """``F.interpolate`` that accepts MMSeg's arguments; warns on a misaligned align_corners resize."""
    tracing = torch.jit.is_tracing()
    if warning and size is not None and align_corners and not tracing:
        in_h, in_w = input.shape[2:]
        out_h, out_w = (int(s) for s in size)
        if out_h > in_h or out_w > in_w:
            if out_h > 1 and out_w > 1 and in_h > 1 and in_w > 1 and ((out_h - 1) % (in_h - 1) or (out_w - 1) % (in_w - 1)):
                warnings.warn(
                    f"When align_corners={align_corners}, output size {(out_h, out_w)} should be 'x * (in - 1) + 1' "
                    f"for input size {(in_h, in_w)} to keep pixels aligned",
                    stacklevel=2,
                )
    if size is not None and not tracing:  # traced sizes stay symbolic so an exported graph resizes at any size
        size = tuple(int(s) for s in size)
    if mode in ("nearest", "area", "nearest-exact"):
        align_corners = None
    return F.interpolate(input, size, scale_factor, mode, align_corners)


class Upsample(torch.nn.Module):
    """Module form of :func:`resize` (MMSeg's ``Upsample``)."""

    def __init__(self, size: tuple[int, int] | None = None, scale_factor: float | None = None,
                 mode: str = "nearest", align_corners: bool | None = None) -> None:
        super().__init__()
        self.size = size
        self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode, self.align_corners = mode, align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.size:
            size = [int(t * self.scale_factor) for t in x.shape[-2:]]
        else:
            size = self.size
        return resize(x, size, None, self.mode, self.align_corners)
