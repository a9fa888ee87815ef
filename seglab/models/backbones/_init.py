"""Weight initialisation shared by the CNN backbones: MMSeg's default init and ``init_cfg`` handling."""
from __future__ import annotations

import warnings

import torch
from torch import nn

from ...registry import ConfigError

__all__ = ["kaiming_cnn_init", "load_pretrained", "resolve_init_cfg"]


def resolve_init_cfg(pretrained: str | None, init_cfg: dict | list | None, owner: str) -> dict | list | None:
    """Merge the deprecated ``pretrained`` path into ``init_cfg`` (MMSeg semantics); check the types."""
    if pretrained is not None and init_cfg:
        raise ConfigError(f"{owner}: give either pretrained or init_cfg, not both")
    if pretrained is None:
        return init_cfg
    if not isinstance(pretrained, str):
        raise ConfigError(f"{owner}: pretrained must be a checkpoint path/URL string or None, got {pretrained!r}")
    warnings.warn(f"{owner}: 'pretrained' is deprecated, use init_cfg=dict(type='Pretrained', checkpoint=...)",
                  DeprecationWarning, stacklevel=3)
    return dict(type="Pretrained", checkpoint=pretrained)


@torch.no_grad()
def kaiming_cnn_init(module: nn.Module) -> None:
    """Kaiming-normal (fan_out, relu) conv weights with zero bias; norm scales 1 and shifts 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)) and m.weight is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def load_pretrained(module: nn.Module, init_cfg: dict | list | None) -> bool:
    """Load ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=None)`` into ``module``.

    Returns True when weights were loaded. ``prefix`` keeps only keys starting with it (and strips it),
    e.g. ``prefix='backbone.'`` to take a backbone out of a whole-segmentor checkpoint.
    """
    if not isinstance(init_cfg, dict) or init_cfg.get("type") != "Pretrained":
        return False
    from ...engine.checkpoint import (  # lazy: the engine is not needed to build a model
        download_checkpoint,
        get_state_dict,
        load_checkpoint,
        load_state_dict_file,
    )

    checkpoint = init_cfg.get("checkpoint")
    if not checkpoint:
        raise ConfigError(f"init_cfg {init_cfg!r}: type 'Pretrained' needs a 'checkpoint' path or URL")
    map_location = init_cfg.get("map_location", "cpu")
    prefix = init_cfg.get("prefix")
    if prefix is None:
        load_checkpoint(module, checkpoint, map_location=map_location, strict=False)
        return True
    if str(checkpoint).startswith(("http://", "https://")):
        checkpoint = download_checkpoint(checkpoint)
    source = get_state_dict(load_state_dict_file(checkpoint, map_location))
    state = {k[len(prefix):]: v for k, v in source.items() if k.startswith(prefix)}
    if not state:
        raise ConfigError(f"init_cfg: no key of checkpoint {checkpoint!r} starts with prefix {prefix!r}")
    module.load_state_dict(state, strict=False)
    return True
