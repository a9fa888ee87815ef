"""Layer-wise learning-rate decay for ConvNeXt and BEiT/MAE/ViT backbones (MMSeg's two constructors).

Each parameter gets a layer id (0 = the stem, growing with depth; the decode heads get the largest)
and the learning rate ``base_lr * decay_rate ** (num_layers + 1 - layer_id)``, so deep layers and
the heads train at the full rate while the stem barely moves. Parameters are grouped as
``layer_<id>_decay`` / ``layer_<id>_no_decay``; 1-D parameters and biases get no weight decay.
The grouping rules follow MMSegmentation 1.x exactly, so its ConvNeXt and BEiT configs train the same.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from torch import nn

from seglab.registry import OPTIM_WRAPPER_CONSTRUCTORS, ConfigError

from .builder import DefaultOptimWrapperConstructor

__all__ = [
    "LayerDecayOptimizerConstructor",
    "LearningRateDecayOptimizerConstructor",
    "get_layer_id_for_convnext",
    "get_layer_id_for_vit",
    "get_stage_id_for_convnext",
]

_log = logging.getLogger("seglab")
_TOKENS = ("backbone.cls_token", "backbone.mask_token", "backbone.pos_embed")
_DECAY_TYPES = ("layer_wise", "stage_wise", "layer_wise_vit")
# Backbone class-name fragments each rule applies to (MMSeg dispatches on the class name too).
_CONVNEXT_NAMES = ("ConvNeXt",)
_VIT_NAMES = ("BEiT", "MAE", "VisionTransformer")


def _index(name: str, pos: int) -> int:
    """The integer at dotted position ``pos`` of ``name`` (e.g. the stage of 'backbone.stages.2.1.w')."""
    try:
        return int(name.split(".")[pos])
    except (IndexError, ValueError) as exc:
        raise ConfigError(f"layer decay: cannot read a layer index from parameter '{name}'") from exc


def get_layer_id_for_convnext(name: str, max_layer_id: int) -> int:
    """Layer id of a ConvNeXt segmentor parameter for ``layer_wise`` decay (0 .. max_layer_id + 1)."""
    if name in _TOKENS:
        return 0
    if name.startswith("backbone.downsample_layers"):
        stage = _index(name, 2)
        # The stem is layer 0; later downsamplers join the first block id of their stage.
        return {0: 0, 1: 2, 2: 3}.get(stage, max_layer_id)
    if name.startswith("backbone.stages"):
        stage, block = _index(name, 2), _index(name, 3)
        if stage == 0:
            return 1
        if stage == 1:
            return 2
        if stage == 2:
            return 3 + block // 3  # the long third stage is split into groups of three blocks
        return max_layer_id
    return max_layer_id + 1  # heads, necks and other backbone parameters: full lr


def get_stage_id_for_convnext(name: str, max_stage_id: int) -> int:
    """Stage id of a ConvNeXt segmentor parameter for ``stage_wise`` decay (0 .. max_stage_id - 1)."""
    if name in _TOKENS or name.startswith("backbone.downsample_layers"):
        return 0
    if name.startswith("backbone.stages"):
        return _index(name, 2) + 1
    return max_stage_id - 1


def get_layer_id_for_vit(name: str, max_layer_id: int) -> int:
    """Layer id of a BEiT/MAE/ViT segmentor parameter (tokens and patch embed 0, ``layers.N`` N + 1)."""
    if name in _TOKENS or name.startswith("backbone.patch_embed"):
        return 0
    if name.startswith("backbone.layers"):
        return _index(name, 2) + 1
    return max_layer_id - 1


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LearningRateDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Builds an optimizer whose groups decay the lr with depth through a ConvNeXt or BEiT/MAE/ViT backbone.

    ``paramwise_cfg``: ``num_layers`` (backbone depth: 12 for ViT-B, 6 or 12 for ConvNeXt as in
    MMSeg's configs), ``decay_rate`` (e.g. 0.9) and ``decay_type`` ('layer_wise' or, for ConvNeXt
    only, 'stage_wise'). The model must have a ``backbone`` attribute; the rule is chosen from the
    backbone's class name. Each group carries ``lr``, ``weight_decay``, ``lr_scale``, ``group_name``
    and ``param_names``.
    """

    _valid_keys: tuple[str, ...] = ("num_layers", "decay_rate", "decay_type")

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        # The default constructor's paramwise keys do not apply here; validate ours instead.
        super().__init__(optim_wrapper_cfg, None)
        cfg = dict(paramwise_cfg or {})
        unknown = set(cfg) - set(self._valid_keys)
        if unknown:
            raise ConfigError(f"optim_wrapper.paramwise_cfg: unknown key(s) {sorted(unknown)} for "
                              f"{type(self).__name__}; valid: {list(self._valid_keys)}")
        for key in ("num_layers", "decay_rate"):
            if cfg.get(key) is None:
                raise ConfigError(f"optim_wrapper.paramwise_cfg needs '{key}' for {type(self).__name__}, "
                                  "e.g. paramwise_cfg=dict(num_layers=12, decay_rate=0.9, decay_type='layer_wise')")
        cfg.setdefault("decay_type", "layer_wise")
        if cfg["decay_type"] not in _DECAY_TYPES:
            raise ConfigError(f"optim_wrapper.paramwise_cfg.decay_type must be one of {list(_DECAY_TYPES)}, "
                              f"got {cfg['decay_type']!r}")
        if self.base_lr is None:
            raise ConfigError(f"optim_wrapper.optimizer needs an 'lr' for {type(self).__name__}")
        self.paramwise_cfg = cfg

    def _layer_rule(self, model: nn.Module) -> tuple[Callable[[str, int], int], int]:
        """The layer-id function for ``model``'s backbone and the max id it is called with."""
        backbone = getattr(model, "backbone", None)
        if backbone is None:
            raise ConfigError(f"{type(self).__name__} needs a model with a 'backbone' attribute "
                              f"(got {type(model).__name__})")
        cls_name = type(backbone).__name__
        num_layers = int(self.paramwise_cfg["num_layers"])
        is_convnext = any(k in cls_name for k in _CONVNEXT_NAMES)
        is_vit = any(k in cls_name for k in _VIT_NAMES)
        if self.paramwise_cfg["decay_type"] == "stage_wise":
            if is_convnext:
                return get_stage_id_for_convnext, num_layers + 2
            raise ConfigError(f"decay_type='stage_wise' supports ConvNeXt backbones only, got {cls_name}; "
                              "use decay_type='layer_wise'")
        if is_convnext:
            return get_layer_id_for_convnext, num_layers
        if is_vit:
            return get_layer_id_for_vit, num_layers + 2
        raise ConfigError(f"{type(self).__name__}: no layer-decay rule for backbone {cls_name}; supported "
                          f"backbones have one of {list(_CONVNEXT_NAMES + _VIT_NAMES)} in their class name")

    def param_groups(self, model: nn.Module) -> list[dict]:
        """Groups ``layer_<id>_{decay,no_decay}`` in order of first appearance among the parameters."""
        layer_id_fn, max_id = self._layer_rule(model)
        # num_layers + 2 ids: the backbone's layers plus the stem (0) and the heads (num_layers + 1).
        total = int(self.paramwise_cfg["num_layers"]) + 2
        decay_rate = float(self.paramwise_cfg["decay_rate"])
        groups: dict[str, dict[str, Any]] = {}
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            # Names are the segmentor's ('backbone.pos_embed'), so the bare token names never match
            # and tokens of 2+ dims keep their decay -- MMSeg behaves the same way.
            if param.ndim == 1 or name.endswith(".bias") or name in ("pos_embed", "cls_token"):
                kind, weight_decay = "no_decay", 0.0
            else:
                kind, weight_decay = "decay", self.base_wd
            layer_id = layer_id_fn(name, max_id)
            group_name = f"layer_{layer_id}_{kind}"
            if group_name not in groups:
                scale = decay_rate ** (total - layer_id - 1)
                group: dict[str, Any] = {"params": [], "param_names": [], "lr_scale": scale,
                                         "group_name": group_name, "lr": scale * self.base_lr}
                if weight_decay is not None:  # without an optimizer weight_decay, keep its default
                    group["weight_decay"] = weight_decay
                groups[group_name] = group
            groups[group_name]["params"].append(param)
            groups[group_name]["param_names"].append(name)
        _log.debug("layer decay groups: %s", {k: (g["lr"], g.get("weight_decay"), len(g["params"]))
                                              for k, g in groups.items()})
        return list(groups.values())


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimizerConstructor(LearningRateDecayOptimizerConstructor):
    """BEiT's older name for layer-wise decay: ``paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.9)``.

    Same groups as ``LearningRateDecayOptimizerConstructor`` with ``decay_type='layer_wise'``;
    ``decay_rate`` is accepted in place of ``layer_decay_rate``.
    """

    _valid_keys = ("num_layers", "decay_rate", "layer_decay_rate", "decay_type")

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        cfg = dict(paramwise_cfg or {})
        if "layer_decay_rate" in cfg:
            if "decay_rate" in cfg and cfg["decay_rate"] != cfg["layer_decay_rate"]:
                raise ConfigError("optim_wrapper.paramwise_cfg: give layer_decay_rate or decay_rate, not both")
            cfg["decay_rate"] = cfg.pop("layer_decay_rate")
        # MMSeg forces this type; it still picks the rule from the backbone's class name.
        cfg["decay_type"] = "layer_wise_vit"
        super().__init__(optim_wrapper_cfg, cfg)
