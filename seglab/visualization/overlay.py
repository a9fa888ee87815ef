"""Blend a label map's class colours onto an image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["colorize", "overlay"]


def _to_numpy_mask(mask: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.ndim != 2:
        raise ValueError(f"overlay: mask must be (H, W) or (1, H, W), got shape {mask.shape}")
    return mask.astype(np.int64)


def colorize(mask: np.ndarray | torch.Tensor, palette: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Return (colour image (H, W, 3) uint8, valid (H, W) bool); labels outside the palette stay black/invalid."""
    mask = _to_numpy_mask(mask)
    colours = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    valid = (mask >= 0) & (mask < len(colours))
    out = np.zeros((*mask.shape, 3), dtype=np.uint8)
    out[valid] = colours[mask[valid]]
    return out, valid


def overlay(
    image: np.ndarray, mask: np.ndarray | torch.Tensor, palette: Sequence[Sequence[int]], alpha: float = 0.5
) -> np.ndarray:
    """Return ``image * (1 - alpha) + colour(mask) * alpha`` as uint8 (H, W, 3).

    ``image`` (H, W, 3) or (H, W) and ``palette`` share one channel order (RGB in seglab);
    ignored labels (e.g. 255, anything without a colour) keep the image's pixel.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"overlay: alpha must be in [0, 1], got {alpha}")
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    colour, valid = colorize(mask, palette)
    if img.shape[:2] != colour.shape[:2]:
        raise ValueError(f"overlay: image {img.shape[:2]} and mask {colour.shape[:2]} sizes differ")
    blended = img.astype(np.float32) * (1 - alpha) + colour.astype(np.float32) * alpha
    out = img.astype(np.uint8).copy()
    out[valid] = np.clip(np.round(blended[valid]), 0, 255).astype(np.uint8)
    return out
