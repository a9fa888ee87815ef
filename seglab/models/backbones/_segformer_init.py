"""MMSeg's default weight init of the SegFormer-style backbones (MiT, MSCAN), and their pretrained loading.

These backbones, like MMSeg's, leave PyTorch's default parameters in place when constructed and apply
their init in ``init_weights()`` (which ``Runner`` calls). Keeping the constructor free of extra random
draws also keeps the global RNG stream identical to MMSeg's after building a model, which the parity
goldens of models that draw random numbers in ``forward`` (LightHamHead's NMF bases) depend on.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ...registry import ConfigError
from ._init import load_pretrained

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


def init_segformer_style(module: nn.Module, init_cfg: dict | list | None) -> None:
    """MMSeg semantics: without ``init_cfg`` the default init above; with a Pretrained one, load it instead."""
    if init_cfg is None:
        _default_init(module)
    elif not load_pretrained(module, init_cfg):
        raise ConfigError(f"{type(module).__name__}: init_cfg {init_cfg!r} is not a dict(type='Pretrained', "
                         "checkpoint=...); that is the only init_cfg this backbone understands")
