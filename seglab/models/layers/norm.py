"""Normalisation layers from MMCV-style ``norm_cfg`` dicts (BN, SyncBN, GN, LN, IN)."""
from __future__ import annotations

import torch.distributed as dist
from torch import nn

from ...registry import ConfigError
from .layer_norm_2d import LayerNorm2d

__all__ = ["build_norm_layer", "norm_abbr", "is_norm"]

# Abbreviations decide the attribute name (``bn``, ``gn``...), which is part of MMSeg's key layout.
_ABBR = {"BN": "bn", "BN1d": "bn", "BN2d": "bn", "BN3d": "bn", "SyncBN": "bn", "GN": "gn",
         "LN": "ln", "LN2d": "ln", "IN": "in", "IN1d": "in", "IN2d": "in", "IN3d": "in"}


def _sync_bn_available() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def norm_abbr(norm_cfg: dict) -> str:
    """Attribute-name abbreviation MMCV uses for a norm type ('bn', 'gn', 'ln', 'in')."""
    norm_type = norm_cfg["type"]
    if isinstance(norm_type, str):
        return _ABBR.get(norm_type, norm_type.lower())
    name = norm_type.__name__.lower()
    if "batch" in name:
        return "bn"
    if "group" in name:
        return "gn"
    if "layer" in name:
        return "ln"
    if "instance" in name:
        return "in"
    return "norm_layer"


def build_norm_layer(norm_cfg: dict, num_features: int, postfix: int | str = "") -> tuple[str, nn.Module]:
    """Build a norm layer; return ``(name, layer)`` where name is e.g. ``'bn1'`` for postfix 1.

    ``SyncBN`` becomes ``nn.SyncBatchNorm`` only under a multi-process group; on one process it is a
    plain ``BatchNorm2d`` (same state-dict keys), so SyncBN configs run on a laptop unchanged.
    """
    if not isinstance(norm_cfg, dict) or "type" not in norm_cfg:
        raise ConfigError(f"norm_cfg must be a dict with a 'type' key, got {norm_cfg!r}")
    cfg = dict(norm_cfg)
    norm_type = cfg.pop("type")
    requires_grad = cfg.pop("requires_grad", True)
    abbr = norm_abbr({"type": norm_type})
    name = f"{abbr}{postfix}"
    if not isinstance(norm_type, str):
        layer = norm_type(num_features, **cfg)
    elif norm_type in ("BN", "BN2d"):
        layer = nn.BatchNorm2d(num_features, **cfg)
    elif norm_type == "BN1d":
        layer = nn.BatchNorm1d(num_features, **cfg)
    elif norm_type == "BN3d":
        layer = nn.BatchNorm3d(num_features, **cfg)
    elif norm_type == "SyncBN":
        cfg.pop("group", None)
        layer = nn.SyncBatchNorm(num_features, **cfg) if _sync_bn_available() else nn.BatchNorm2d(num_features, **cfg)
    elif norm_type == "GN":
        if "num_groups" not in cfg:
            raise ConfigError("norm_cfg type 'GN' needs 'num_groups'")
        layer = nn.GroupNorm(num_channels=num_features, **cfg)
    elif norm_type == "LN":
        layer = nn.LayerNorm(num_features, **cfg)
    elif norm_type == "LN2d":  # mmpretrain's channel-first LayerNorm (ConvNeXt)
        layer = LayerNorm2d(num_features, **cfg)
    elif norm_type in ("IN", "IN2d"):
        layer = nn.InstanceNorm2d(num_features, **cfg)
    elif norm_type == "IN1d":
        layer = nn.InstanceNorm1d(num_features, **cfg)
    elif norm_type == "IN3d":
        layer = nn.InstanceNorm3d(num_features, **cfg)
    else:
        raise ConfigError(
            f"unknown norm type '{norm_type}' in norm_cfg; use one of BN, SyncBN, GN, LN, LN2d, IN (or a norm class)"
        )
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return name, layer


def is_norm(module: nn.Module) -> bool:
    """True for batch/group/layer/instance norm modules."""
    return isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm,
                               nn.modules.instancenorm._InstanceNorm))
