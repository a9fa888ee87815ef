"""Which torch.optim implementation an optimizer config gets: fused kernels where torch has them.

torch's own default for an optimizer built without ``fused``/``foreach`` is the per-tensor loop on
CPU and the multi-tensor ``foreach`` path on CUDA. Its fused kernels (one pass over each parameter
that reads the gradient and state and writes both back) are faster on both devices but never the
default there. seglab asks for them when every parameter can use them; a config that sets
``fused`` or ``foreach`` in ``optimizer`` keeps its choice (``fused=False`` is torch's plain path).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["IMPLEMENTATION_KEYS", "fast_optimizer_cfg", "fused_devices"]

_log = logging.getLogger("seglab")

# The param-group keys that choose an implementation, not the maths: a checkpoint carries them too.
IMPLEMENTATION_KEYS = ("fused", "foreach")
_FUSED_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def fused_devices(optimizer_cls: type) -> tuple[str, ...]:
    """Device types on which ``optimizer_cls`` has a fused kernel in torch (empty: none)."""
    if optimizer_cls in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW):
        return ("cpu", "cuda")
    if optimizer_cls is torch.optim.Adagrad:
        return ("cpu",)  # torch's fused Adagrad has no CUDA kernel
    return ()


def _param_tensors(params: Iterable[Any]) -> list[torch.Tensor]:
    """The tensors of a parameter list or of param-group dicts."""
    out: list[torch.Tensor] = []
    for item in params:
        if isinstance(item, Mapping):
            group = item["params"]
            out.extend([group] if isinstance(group, torch.Tensor) else group)
        else:
            out.append(item)
    return out


def fast_optimizer_cfg(optimizer_cfg: Mapping[str, Any], optimizer_cls: type) -> dict[str, Any]:
    """``optimizer_cfg`` (with ``params``) plus ``fused=True`` where every parameter can use the fused kernel.

    Unchanged when the config sets ``fused`` or ``foreach`` itself, asks for ``differentiable`` or
    ``capturable`` updates, or when a parameter is on a device or of a dtype without a fused kernel.
    """
    cfg = dict(optimizer_cfg)
    if any(k in cfg for k in IMPLEMENTATION_KEYS) or cfg.get("differentiable") or cfg.get("capturable"):
        return cfg
    devices = fused_devices(optimizer_cls)
    tensors = _param_tensors(cfg.get("params", []))
    if not devices or not tensors:
        return cfg
    if all(isinstance(p, nn.Parameter | torch.Tensor) and p.device.type in devices and p.dtype in _FUSED_DTYPES
           and not p.is_sparse for p in tensors):
        cfg["fused"] = True
        _log.debug("optimizer %s: fused implementation (optimizer.fused=False selects torch's plain loop)",
                   optimizer_cls.__name__)
    return cfg
