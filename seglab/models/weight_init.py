"""Weight initialisation: MMSeg's default CNN init, and pretrained weights from ``pretrained`` / ``init_cfg``.

Every component is initialised when it is constructed. ``init_weights()`` then loads what its
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=None)`` names, as MMCV's PretrainedInit
does: ``prefix='backbone.'`` keeps only the checkpoint's keys under that prefix, without it. A
segmentor's ``init_weights()`` first initialises its components (this is where a pretrained backbone
is loaded), then its own Pretrained ``init_cfg``, which therefore wins (mmengine's order).

Checkpoints are read through ``seglab.io``: local paths, ``file://`` and ``http(s)://`` URLs, and named
checkpoints (``open-mmlab://resnet50_v1c``, ``torchvision://resnet50``, ``mmcls://mobilenet_v2``).
A checkpoint that cannot be read, or of which no tensor fits the module, is an error.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..io.checkpoint import LoadReport, get_state_dict, load_weights, read_checkpoint
from ..registry import ConfigError, closest

__all__ = [
    "PretrainedWeightsError",
    "init_components",
    "kaiming_cnn_init",
    "load_pretrained",
    "load_pretrained_state",
    "pretrained_cfgs",
    "read_pretrained",
    "resolve_init_cfg",
    "without_pretrained",
]

_log = logging.getLogger("seglab")
_PRETRAINED_KEYS = ("type", "checkpoint", "prefix", "map_location")
_FIX = ("fix the path or URL (named checkpoints are listed in seglab/io/model_zoo/*.json), or train from "
        "scratch on purpose with --cfg-options model.pretrained=None (or the component's init_cfg=None)")


class PretrainedWeightsError(RuntimeError):
    """Pretrained weights were asked for but cannot be read, or none of them fits the module."""


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


def pretrained_cfgs(init_cfg: Mapping | Sequence | None, owner: str) -> list[dict]:
    """The ``type='Pretrained'`` entries of an ``init_cfg`` (a dict or a list of dicts), checked.

    Other types (MMCV's Normal, Kaiming, ...) describe initialisations seglab's constructors already
    perform the MMSeg way; they are not re-applied, and a warning says so.
    """
    if init_cfg is None:
        return []
    entries = [init_cfg] if isinstance(init_cfg, Mapping) else list(init_cfg)
    found = []
    for cfg in entries:
        if not isinstance(cfg, Mapping) or "type" not in cfg:
            raise ConfigError(f"{owner}: init_cfg entries must be dicts with a 'type', got {cfg!r}")
        if cfg["type"] != "Pretrained":
            _log.warning("%s: init_cfg type %r is not applied; seglab initialises %s at construction "
                         "(MMSeg's default init) and reads only type='Pretrained'", owner, cfg["type"], owner)
            continue
        for key in cfg:
            if key not in _PRETRAINED_KEYS:
                hint = closest(key, list(_PRETRAINED_KEYS), n=1)
                raise ConfigError(f"{owner}: init_cfg Pretrained has no argument {key!r}"
                                  + (f"; did you mean {hint[0]!r}?" if hint else f"; valid: {_PRETRAINED_KEYS}"))
        checkpoint = cfg.get("checkpoint")
        if not isinstance(checkpoint, (str, os.PathLike)) or not os.fspath(checkpoint):
            raise ConfigError(f"{owner}: init_cfg {dict(cfg)} needs 'checkpoint', a path, URL or name such as "
                              "open-mmlab://resnet50_v1c")
        found.append(dict(cfg))
    return found


def load_pretrained(module: nn.Module, init_cfg: Mapping | Sequence | None, owner: str | None = None) -> bool:
    """Load every Pretrained entry of ``init_cfg`` into ``module``; True when weights were loaded.

    Logs (logger ``seglab``) what was loaded from where, with the missing and unexpected key counts.
    Raises PretrainedWeightsError when the checkpoint cannot be read or no tensor of it fits ``module``.
    """
    owner = owner or type(module).__name__
    cfgs = pretrained_cfgs(init_cfg, owner)
    for cfg in cfgs:
        _load_one(module, cfg, owner)
    return bool(cfgs)


def read_pretrained(cfg: Mapping, owner: str) -> tuple[dict[str, torch.Tensor], str]:
    """The tensors a Pretrained ``init_cfg`` names (``prefix`` or a DataParallel ``module.`` stripped) and where from.

    Reads local paths, URLs and the named schemes through ``seglab.io``; raises PretrainedWeightsError.
    """
    source = os.fspath(cfg["checkpoint"])
    prefix = cfg.get("prefix")
    if prefix is not None and not prefix.endswith("."):
        prefix += "."  # MMCV appends the dot too
    try:
        weights = get_state_dict(read_checkpoint(source, cfg.get("map_location", "cpu")))
    except Exception as exc:
        raise PretrainedWeightsError(f"{owner}: cannot load pretrained weights from {source}: {exc}\n"
                                     f"To continue, {_FIX}") from exc
    if prefix is None:  # mmengine strips a DataParallel 'module.' here
        state = {k[7:] if k.startswith("module.") else k: v for k, v in weights.items()}
    else:
        state = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
        if not state:
            raise PretrainedWeightsError(f"{owner}: no key of {source} starts with prefix {prefix!r} "
                                         f"(its keys look like {_first(weights)})")
    return state, source + (f" (prefix {prefix!r})" if prefix else "")


def load_pretrained_state(module: nn.Module, state: Mapping[str, torch.Tensor], owner: str, where: str) -> None:
    """Load ``state`` into ``module`` non-strictly, log the report; raise when no tensor fits."""
    report = load_weights(module, state)
    if report.loaded == 0:
        raise PretrainedWeightsError(
            f"{owner}: none of the {len(state)} tensors in {where} fits the module: the checkpoint's keys look "
            f"like {_first(state)}, {owner}'s like {_first(module.state_dict())}{_prefix_hint(state, module)}\n"
            f"To continue, {_FIX}")
    _log_report(owner, where, report)


def _load_one(module: nn.Module, cfg: dict, owner: str) -> None:
    state, where = read_pretrained(cfg, owner)
    load_pretrained_state(module, state, owner, where)


def _first(keys: Any, n: int = 3) -> str:
    return ", ".join(list(keys)[:n]) or "(none)"


def _prefix_hint(state: Mapping[str, Any], module: nn.Module) -> str:
    """A hint naming the prefix whose stripping makes the most keys fit (a whole-model checkpoint), or ''."""
    own = set(module.state_dict())
    best, hits = None, 0
    for head in {k.split(".", 1)[0] + "." for k in state if "." in k}:
        n = sum(1 for k in state if k.startswith(head) and k[len(head):] in own)
        if n > hits:
            best, hits = head, n
    return f"; with prefix={best!r}, {hits} tensors fit" if best else ""


def _log_report(owner: str, where: str, report: LoadReport) -> None:
    level = logging.WARNING if report.missing or report.mismatched else logging.INFO
    counts = (f"missing {len(report.missing)}, unexpected {len(report.unexpected)}, "
              f"shape-mismatched {len(report.mismatched)}")
    details = "".join(f"\n  {line}" for line in report.problems(limit=5))
    _log.log(level, "%s: loaded %d/%d pretrained tensors from %s (%s)%s",
             owner, report.loaded, report.total, where, counts, details)


def init_components(module: nn.Module) -> bool:
    """Call ``init_weights()`` on each child of ``module`` that has one (inside ModuleLists too).

    Returns True when any of them loaded pretrained weights (their ``init_weights`` returned True).
    """
    loaded = False
    for child in module.children():
        init = getattr(child, "init_weights", None)
        if callable(init):
            loaded = bool(init()) or loaded
        elif isinstance(child, (nn.ModuleList, nn.Sequential, nn.ModuleDict)):
            loaded = init_components(child) or loaded
    return loaded


def without_pretrained(cfg: Any) -> Any:
    """A copy of a model config (plain dicts and lists) without any ``pretrained`` or Pretrained ``init_cfg``.

    For building a model whose weights all come from a trained checkpoint next (test, inference):
    the ImageNet weights a training config names would only be downloaded and overwritten.
    """
    if isinstance(cfg, Mapping):
        out = {}
        for key, value in cfg.items():
            if key == "pretrained" and isinstance(value, (str, os.PathLike)):
                value = None
            elif key == "init_cfg" and value is not None:
                entries = [value] if isinstance(value, Mapping) else list(value)
                kept = [e for e in entries if not (isinstance(e, Mapping) and e.get("type") == "Pretrained")]
                value = (kept[0] if isinstance(value, Mapping) else kept) if kept else None
            out[key] = without_pretrained(value)
        return out
    if isinstance(cfg, (list, tuple)):
        return [without_pretrained(v) for v in cfg]
    return cfg
