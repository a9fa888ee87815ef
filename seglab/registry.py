"""Registries that map MMSeg-style type names to seglab classes, and ``build``."""
from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "Registry",
    "ConfigError",
    "MODELS",
    "DATASETS",
    "TRANSFORMS",
    "METRICS",
    "HOOKS",
    "OPTIMIZERS",
    "OPTIM_WRAPPERS",
    "OPTIM_WRAPPER_CONSTRUCTORS",
    "PARAM_SCHEDULERS",
    "LOOPS",
    "DATA_SAMPLERS",
    "VISUALIZERS",
    "VISBACKENDS",
    "build_from_cfg",
]


class ConfigError(ValueError):
    """A config names an unknown type or passes an argument a component does not take."""


def closest(name: str, candidates: list[str], n: int = 3) -> list[str]:
    """Return up to ``n`` candidates that look most like ``name``."""
    lowered = {c.lower(): c for c in candidates}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[h] for h in hits]


def check_kwargs(obj: Callable, kwargs: Mapping[str, Any], where: str) -> None:
    """Raise ConfigError if ``kwargs`` holds a key that ``obj`` does not accept."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):  # builtins without signatures
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = [n for n, p in params.items() if n != "self" and p.kind is not inspect.Parameter.VAR_POSITIONAL]
    for key in kwargs:
        if key not in valid:
            hint = closest(key, valid)
            raise ConfigError(
                f"{where}: unexpected argument '{key}'"
                + (f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else "")
                + f" (valid arguments: {', '.join(valid)})"
            )


class Registry:
    """A name -> class mapping with a decorator to register and ``build`` to instantiate."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._modules: dict[str, Callable] = {}

    def __contains__(self, name: str) -> bool:
        return self._strip(name) in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {len(self)} entries)"

    @property
    def module_dict(self) -> dict[str, Callable]:
        """All registered names and their classes (a copy)."""
        return dict(self._modules)

    @staticmethod
    def _strip(name: str) -> str:
        # MMSeg configs sometimes write 'mmseg.PSPHead' or 'mmengine.ConstantLR'.
        for prefix in ("mmseg.", "mmengine.", "mmcv.", "mmpretrain.", "mmcls."):
            if name.startswith(prefix):
                return name[len(prefix):]
        return name

    def register_module(
        self, name: str | list[str] | Callable | None = None, force: bool = False, module: Callable | None = None
    ) -> Callable:
        """Decorator that registers a class or function under ``name`` (default: its own name).

        Also usable bare (``@REG.register_module``) or as ``register_module(module=cls)``; ``name``
        may be a list of aliases.
        """
        if callable(name) and not isinstance(name, str):  # used bare: @REG.register_module
            return self.register_module(force=force)(name)

        def deco(obj: Callable) -> Callable:
            keys = [name] if isinstance(name, str) else list(name or [obj.__name__])
            for key in keys:
                if not isinstance(key, str):
                    raise TypeError(f"{self.name}: registry names must be strings, got {key!r}")
                if key in self._modules and not force and self._modules[key] is not obj:
                    raise KeyError(
                        f"'{key}' is already registered in {self.name} (by {self._modules[key].__module__}); "
                        "pick another name or pass force=True"
                    )
            for key in keys:
                self._modules[key] = obj
            return obj

        return deco(module) if module is not None else deco

    def add(self, obj: Callable, name: str | None = None) -> Callable:
        """Register ``obj`` directly (for classes defined elsewhere, e.g. torch.optim)."""
        return self.register_module(name)(obj)

    def get(self, name: str) -> Callable:
        """Return the class for ``name``; a dotted path 'pkg.mod.Class' is imported."""
        key = self._strip(name)
        if key in self._modules:
            return self._modules[key]
        hint = closest(key, list(self._modules))
        did_you_mean = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
        # 'mmseg.PSPHead' is a prefixed registry name, not an import path: don't try importing 'mmseg'.
        if "." in key:
            module_name, _, attr = key.rpartition(".")
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise ConfigError(f"cannot import '{name}' for {self.name}: {exc}{did_you_mean}") from exc
            if not hasattr(module, attr):
                raise ConfigError(f"cannot import '{name}' for {self.name}: module '{module_name}' has no '{attr}'")
            return getattr(module, attr)
        raise ConfigError(f"unknown {self.name} type '{name}'" + did_you_mean)

    def build(self, cfg: Any, **defaults: Any) -> Any:
        """Build an object from a dict with a ``type`` key; an already built object passes through."""
        return build_from_cfg(cfg, self, **defaults)


def build_from_cfg(cfg: Any, registry: Registry, **defaults: Any) -> Any:
    """Instantiate ``cfg['type']`` from ``registry`` with the remaining keys as arguments."""
    if cfg is None:
        return None
    if not isinstance(cfg, Mapping):
        return cfg  # already an object
    if "type" not in cfg:
        raise ConfigError(f"{registry.name} config has no 'type' key: {dict(cfg)}")
    kwargs = dict(cfg)
    obj_type = kwargs.pop("type")
    for k, v in defaults.items():
        kwargs.setdefault(k, v)
    cls = registry.get(obj_type) if isinstance(obj_type, str) else obj_type
    name = obj_type if isinstance(obj_type, str) else getattr(obj_type, "__name__", str(obj_type))
    check_kwargs(cls, kwargs, f"{registry.name} '{name}'")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except TypeError as exc:
        raise ConfigError(f"building {registry.name} '{name}' failed: {exc}") from exc


MODELS = Registry("model")
DATASETS = Registry("dataset")
TRANSFORMS = Registry("transform")
METRICS = Registry("metric")
HOOKS = Registry("hook")
OPTIMIZERS = Registry("optimizer")
OPTIM_WRAPPERS = Registry("optim_wrapper")
OPTIM_WRAPPER_CONSTRUCTORS = Registry("optim_wrapper_constructor")
PARAM_SCHEDULERS = Registry("param_scheduler")
LOOPS = Registry("loop")
DATA_SAMPLERS = Registry("data_sampler")
VISUALIZERS = Registry("visualizer")
VISBACKENDS = Registry("vis_backend")
