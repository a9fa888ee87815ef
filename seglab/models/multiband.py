"""Adapt a pretrained 3-channel (RGB) input convolution to N input bands (multispectral, image pairs).

The rule (docs/multiband.md): the response of the adapted filter to a grey image (every band equal)
equals the RGB filter's response to that grey image, so a pretrained stem starts out computing the
same features on band-averaged content.

- N >= 3: band ``i`` copies RGB filter ``i % 3``, divided by the number of bands copying that
  filter. When 3 divides N (6 for a change-detection pair) that is "repeat cyclically, times 3/N".
- N < 3: band ``j`` is the sum of the RGB filters ``c`` with ``c % N == j`` (N=1: sum over RGB).
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ["adapt_input_conv", "adapt_input_convs"]


def adapt_input_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """(O, 3, kh, kw) pretrained filters -> (O, in_channels, kh, kw) by the rule in the module docstring."""
    if weight.dim() != 4:
        raise ValueError(f"adapt_input_conv: expected a conv weight (O, I, kh, kw), got shape {tuple(weight.shape)}")
    src = weight.shape[1]
    if in_channels < 1:
        raise ValueError(f"adapt_input_conv: in_channels must be >= 1, got {in_channels}")
    if src == in_channels:
        return weight.clone()
    if src != 3:
        raise ValueError(f"adapt_input_conv: only 3-channel (RGB) filters are adapted, got {src} input channels")
    dtype = weight.dtype
    w = weight.float()
    if in_channels < 3:
        out = torch.stack([w[:, [c for c in range(3) if c % in_channels == j]].sum(1) for j in range(in_channels)], 1)
    else:
        idx = torch.arange(in_channels) % 3
        counts = torch.bincount(idx, minlength=3).to(w)
        out = w[:, idx] / counts[idx].view(1, -1, 1, 1)
    return out.to(dtype)


def adapt_input_convs(
    state_dict: Mapping[str, torch.Tensor], model_state: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Copy of ``state_dict`` with every 4-D weight that has 3 input channels where the model's has N
    (and otherwise the same shape) adapted with ``adapt_input_conv``; use before ``load_state_dict``.
    """
    out = dict(state_dict)
    for key, value in state_dict.items():
        target = model_state.get(key)
        if (
            isinstance(value, torch.Tensor) and isinstance(target, torch.Tensor) and value.dim() == 4
            and target.dim() == 4 and value.shape[1] == 3 and target.shape[1] != 3
            and value.shape[0] == target.shape[0] and value.shape[2:] == target.shape[2:]
        ):
            out[key] = adapt_input_conv(value, int(target.shape[1]))
    return out
