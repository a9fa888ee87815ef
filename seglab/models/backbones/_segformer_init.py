"""MMSeg's default weight init of the SegFormer-style backbones (MiT, MSCAN), and their pretrained loading.

Unlike seglab's CNN backbones, these two keep PyTorch's default parameters when constructed and apply
MMSeg's init in ``init_weights()`` (which ``Runner`` calls through the segmentor), exactly as MMSeg does.
Keeping the constructor free of extra random draws keeps the global RNG stream identical to MMSeg's
after building a model, which the parity goldens of models that draw random numbers in ``forward``
(LightHamHead's NMF bases, on an MSCAN backbone) depend on.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from ..weight_init import load_pretrained, pretrained_cfgs

__all__ = ["init_segformer_style"]


@torch.no_grad()
def _default_init(module: nn.Module) -> None:
    """Linear ~ trunc_normal(std=0.02), LayerNorm 1/0, Conv2d ~ N(0, sqrt(2 / fan_out)); biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            # fan_out of a grouped conv counts the outputs one input group feeds (MMSeg's rule)
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, mean=0.0, std=math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def init_segformer_style(module: nn.Module, init_cfg: Mapping | Sequence | None) -> bool:
    """MMSeg semantics: the Pretrained weights of ``init_cfg`` if it names some, else the default init above.

    Returns True when pretrained weights were loaded.
    """
    if pretrained_cfgs(init_cfg, type(module).__name__):
        return load_pretrained(module, init_cfg)
    _default_init(module)
    return False
