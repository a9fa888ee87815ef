"""MMSeg model names seglab knows but cannot build: building one fails with the reason and the way out.

``VPD`` (MMSeg's backbone of the VPD depth configs) wraps a Stable Diffusion v1.5 UNet and VAE from the
``ldm`` research code (Rombach et al.), which no maintained PyPI package provides in the layout of
MMSeg's checkpoints and which needs a multi-GB download; seglab's own parts of VPD (VPDDepthHead,
DepthEstimator, NYUDataset, DepthMetric) work with any seglab backbone.
"""

from __future__ import annotations

from typing import Any

from ..registry import MODELS, ConfigError

__all__ = ["VPD"]


@MODELS.register_module()
class VPD:
    """MMSeg's VPD backbone (a Stable Diffusion UNet): building it fails with the reason (see docs/depth.md)."""

    def __init__(self, **kwargs: Any) -> None:
        raise ConfigError(
            "backbone type 'VPD' is not available in seglab: it is Stable Diffusion v1.5's UNet and VAE from the "
            "'ldm' research code, which no maintained package provides (and which needs a multi-GB checkpoint). "
            "Use VPDDepthHead with a seglab backbone instead, e.g. configs/depth/"
            "vpd-head_r18-d32_4xb8-25k_nyu-480x480.py (docs/depth.md)"
        )
