"""Point-wise spatial attention mask (PSANet, https://hszhao.github.io/papers/eccv18_psanet.pdf) in PyTorch.

Replaces MMCV's compiled ``PSAMask`` with the same numbers. Each position p = (h, w) predicts a
``mask_h x mask_w`` window of weights centred on itself; the op lays that window out over the whole map:

with k(q, p) = (qh - ph + (mask_h - 1) // 2) * mask_w + (qw - pw + (mask_w - 1) // 2),

- 'collect':    out[n, q, ph, pw] = mask[n, k(q, p), ph, pw]   (p gathers from q),
- 'distribute': out[n, p, qh, qw] = mask[n, k(q, p), ph, pw]   (p spreads to q; the (q, p) transpose).

Positions of the map that the window does not reach are 0 (they still enter a later softmax, as in MMCV).
"""
from __future__ import annotations

import torch
from torch import nn

from ...registry import ConfigError

__all__ = ["PSAMask", "psa_mask"]


def psa_mask(mask: torch.Tensor, psa_type: str, mask_size: tuple[int, int]) -> torch.Tensor:
    """mask: (N, mask_h * mask_w, H, W) -> (N, H * W, H, W) over-the-map attention (see module docstring)."""
    mask_h, mask_w = mask_size
    n, channels, h, w = mask.shape
    if channels != mask_h * mask_w:
        raise ValueError(f"psa_mask: input has {channels} channels, mask_size {mask_size} needs {mask_h * mask_w}")
    half_h, half_w = (mask_h - 1) // 2, (mask_w - 1) // 2
    dev = mask.device
    # Window row of (target row qh, centre row ph) is qh - ph + half_h; valid when inside [0, mask_h).
    rows = torch.arange(h, device=dev)
    cols = torch.arange(w, device=dev)
    win_r = rows.view(h, 1) - rows.view(1, h) + half_h  # [qh, ph]
    win_c = cols.view(w, 1) - cols.view(1, w) + half_w  # [qw, pw]
    ok_r = (win_r >= 0) & (win_r < mask_h)
    ok_c = (win_c >= 0) & (win_c < mask_w)
    win_r, win_c = win_r.clamp(0, mask_h - 1), win_c.clamp(0, mask_w - 1)
    m = mask.reshape(n, mask_h, mask_w, h, w)
    # Broadcast indices to [qh, qw, ph, pw]: out[n, qh, qw, ph, pw] = m[n, win_r[qh, ph], win_c[qw, pw], ph, pw].
    out = m[:, win_r.view(h, 1, h, 1), win_c.view(1, w, 1, w), rows.view(1, 1, h, 1), cols.view(1, 1, 1, w)]
    valid = (ok_r.view(h, 1, h, 1) & ok_c.view(1, w, 1, w)).to(mask.dtype)
    out = (out * valid).reshape(n, h * w, h * w)  # [n, q, p]: collect layout
    if psa_type == "distribute":
        out = out.transpose(1, 2)
    elif psa_type != "collect":
        raise ConfigError(f"psa_type must be 'collect' or 'distribute', got {psa_type!r}")
    return out.reshape(n, h * w, h, w)


class PSAMask(nn.Module):
    """Module form of :func:`psa_mask` (MMCV's ``PSAMask(psa_type, mask_size)``; no parameters)."""

    def __init__(self, psa_type: str, mask_size: tuple[int, int]) -> None:
        super().__init__()
        if psa_type not in ("collect", "distribute"):
            raise ConfigError(f"PSAMask: psa_type must be 'collect' or 'distribute', got {psa_type!r}")
        self.psa_type, self.mask_size = psa_type, tuple(mask_size)

    def extra_repr(self) -> str:
        return f"psa_type={self.psa_type}, mask_size={self.mask_size}"

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        """(N, mask_h * mask_w, H, W) -> (N, H * W, H, W)."""
        return psa_mask(mask, self.psa_type, self.mask_size)
