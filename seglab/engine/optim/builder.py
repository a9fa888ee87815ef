"""Optimizers from torch.optim by name, and the default constructor with ``paramwise_cfg``."""
from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from seglab.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS, ConfigError

from .fast_paths import fast_optimizer_cfg
from .optim_wrapper import OptimWrapper

__all__ = ["DefaultOptimWrapperConstructor", "build_optim_wrapper"]

for _name, _cls in inspect.getmembers(torch.optim, inspect.isclass):
    if issubclass(_cls, torch.optim.Optimizer) and _cls is not torch.optim.Optimizer and _name not in OPTIMIZERS:
        OPTIMIZERS.add(_cls, _name)

_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)
_PARAMWISE_KEYS = {"custom_keys", "bias_lr_mult", "bias_decay_mult", "norm_decay_mult", "dwconv_decay_mult",
                   "flat_decay_mult", "bypass_duplicate"}


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class DefaultOptimWrapperConstructor:
    """Builds ``optim_wrapper`` (its ``optimizer`` over the model's parameters, grouped by ``paramwise_cfg``).

    ``paramwise_cfg`` keys (MMEngine's): ``custom_keys={'backbone': dict(lr_mult=0.1, decay_mult=1.0)}``
    (the longest matching key wins, matched against the parameter name), ``bias_lr_mult``,
    ``bias_decay_mult``, ``norm_decay_mult``, ``dwconv_decay_mult``, ``flat_decay_mult``,
    ``bypass_duplicate``. Without a paramwise_cfg all parameters form one group.
    torch's fused optimizer kernels are used where they exist for the parameters' device and dtype
    (``optimizer.fused`` / ``foreach`` in the config win; see ``fast_optimizer_cfg``).
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        if "optimizer" not in optim_wrapper_cfg:
            raise ConfigError("optim_wrapper needs an 'optimizer' entry, e.g. optimizer=dict(type='SGD', lr=0.01)")
        self.optim_wrapper_cfg = dict(optim_wrapper_cfg)
        self.optimizer_cfg = dict(self.optim_wrapper_cfg.pop("optimizer"))
        self.paramwise_cfg = dict(paramwise_cfg or {})
        unknown = set(self.paramwise_cfg) - _PARAMWISE_KEYS
        if unknown:
            raise ConfigError(f"optim_wrapper.paramwise_cfg: unknown key(s) {sorted(unknown)}; valid: {sorted(_PARAMWISE_KEYS)}")
        for key, value in self.paramwise_cfg.get("custom_keys", {}).items():
            bad = set(value) - {"lr_mult", "decay_mult"}
            if bad:
                raise ConfigError(f"optim_wrapper.paramwise_cfg.custom_keys['{key}']: unknown key(s) {sorted(bad)}; "
                                  "use lr_mult / decay_mult")
        self.base_lr = self.optimizer_cfg.get("lr")
        self.base_wd = self.optimizer_cfg.get("weight_decay")

    def __call__(self, model: nn.Module) -> OptimWrapper:
        """Return the built wrapper for ``model``."""
        model = getattr(model, "module", model)
        optimizer_cfg = dict(self.optimizer_cfg)
        optimizer_cfg["params"] = self.param_groups(model) if self.paramwise_cfg else [p for p in model.parameters() if p.requires_grad]
        kind = optimizer_cfg.get("type")
        if isinstance(kind, str):
            try:
                kind = OPTIMIZERS.get(kind)
            except ConfigError:
                kind = None  # the build below names the unknown type
        if isinstance(kind, type):
            optimizer_cfg = fast_optimizer_cfg(optimizer_cfg, kind)
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        wrapper_cfg = dict(self.optim_wrapper_cfg)
        wrapper_cfg.setdefault("type", "OptimWrapper")
        return OPTIM_WRAPPERS.build(wrapper_cfg, optimizer=optimizer)

    def param_groups(self, model: nn.Module) -> list[dict]:
        """One group per parameter with its own lr / weight_decay."""
        groups: list[dict] = []
        seen: set[int] = set()
        custom = self.paramwise_cfg.get("custom_keys", {})
        keys = sorted(custom, key=len, reverse=True)
        names = [n for n, _ in model.named_parameters()]
        # MMEngine applies a key that matches nothing silently; a misspelt key (MMSeg's own Twins 'pos_block',
        # SAN 'img_encoder') would then leave the lr/decay it names unapplied without a word.
        unmatched = [k for k in custom if not any(k in n for n in names)]
        if unmatched:
            warnings.warn(f"optim_wrapper.paramwise_cfg.custom_keys {unmatched} match no parameter name of "
                          f"{type(model).__name__}, so their lr_mult/decay_mult have no effect; check the spelling "
                          "against model.named_parameters()", UserWarning, stacklevel=2)
        for mod_name, module in model.named_modules():
            is_norm = isinstance(module, _NORMS)
            is_dw = isinstance(module, nn.Conv2d) and module.in_channels == module.groups and module.groups > 1
            for name, param in module.named_parameters(recurse=False):
                if not param.requires_grad:
                    continue
                full = f"{mod_name}.{name}" if mod_name else name
                if id(param) in seen:
                    if self.paramwise_cfg.get("bypass_duplicate", False):
                        continue
                    raise ConfigError(f"parameter '{full}' is shared by several modules; set paramwise_cfg.bypass_duplicate=True")
                seen.add(id(param))
                group: dict[str, Any] = {"params": [param]}
                matched = next((k for k in keys if k in full), None)
                if matched is not None:
                    spec = custom[matched]
                    if self.base_lr is not None:
                        group["lr"] = self.base_lr * spec.get("lr_mult", 1.0)
                    if self.base_wd is not None:
                        group["weight_decay"] = self.base_wd * spec.get("decay_mult", 1.0)
                else:
                    lr_mult = decay_mult = 1.0
                    if name == "bias" and not is_norm:
                        lr_mult = self.paramwise_cfg.get("bias_lr_mult", 1.0)
                        decay_mult = self.paramwise_cfg.get("bias_decay_mult", 1.0)
                    if is_norm:
                        decay_mult = self.paramwise_cfg.get("norm_decay_mult", 1.0)
                    elif is_dw:
                        decay_mult = self.paramwise_cfg.get("dwconv_decay_mult", 1.0)
                    elif param.ndim == 1 and name != "bias":
                        decay_mult = self.paramwise_cfg.get("flat_decay_mult", 1.0)
                    if self.base_lr is not None:
                        group["lr"] = self.base_lr * lr_mult
                    if self.base_wd is not None:
                        group["weight_decay"] = self.base_wd * decay_mult
                groups.append(group)
        return groups


def build_optim_wrapper(model: nn.Module, cfg: Mapping | OptimWrapper) -> OptimWrapper:
    """Build ``cfg`` (an ``optim_wrapper`` config dict) for ``model``; a built wrapper passes through."""
    if isinstance(cfg, OptimWrapper):
        return cfg
    cfg = dict(cfg)
    constructor_type = cfg.pop("constructor", "DefaultOptimWrapperConstructor")
    paramwise_cfg = cfg.pop("paramwise_cfg", None)
    wrapper_type = cfg.get("type", "OptimWrapper")
    wrapper_cls = OPTIM_WRAPPERS.get(wrapper_type) if isinstance(wrapper_type, str) else wrapper_type
    # Check the wrapper's own keys now, so a typo names optim_wrapper, not a deep TypeError.
    from seglab.registry import check_kwargs

    check_kwargs(wrapper_cls, {k: v for k, v in cfg.items() if k not in ("type", "optimizer")} | {"optimizer": None},
                 f"optim_wrapper '{wrapper_type}'")
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(type=constructor_type, optim_wrapper_cfg=cfg, paramwise_cfg=paramwise_cfg))
    return constructor(model)
