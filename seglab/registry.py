"""Registries that map MMSeg-style type names to seglab classes, and ``build``."""
from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from .signatures import set_merged_signature

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


_VAR_KINDS = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


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
    valid = [n for n, p in params.items() if n != "self" and p.kind not in _VAR_KINDS]
    forwards = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    # With **kwargs an unknown key may be forwarded; it is still a misspelling when it looks like a
    # required argument that was not given (the call would fail on that anyway).
    required = [n for n in valid if params[n].default is inspect.Parameter.empty and n not in kwargs]
    for key in kwargs:
        if key not in valid:
            hint = closest(key, required if forwards else valid)
            if forwards and not hint:
                continue
            raise ConfigError(
                f"{where}: unexpected argument '{key}'"
                + (f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else "")
                + f" (valid arguments: {', '.join(valid)})"
            )


def check_binding(obj: Callable, kwargs: Mapping[str, Any], where: str) -> None:
    """Raise ConfigError if ``obj(**kwargs)`` cannot bind (e.g. a required argument is missing)."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):  # builtins without signatures
        return
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"building {where} failed: {exc} (arguments: {', '.join(signature.parameters)})") from None


class Registry:
    """A name -> class mapping with a decorator to register and ``build`` to instantiate.

    ``locations`` name the modules that define this registry's types: the first lookup imports them,
    so ``MODELS.build(...)`` works without importing ``seglab.models`` first.
    """

    def __init__(self, name: str, locations: Sequence[str] = ()) -> None:
        self.name = name
        self.locations = tuple(locations)
        self._modules: dict[str, Callable] = {}
        self._imported = False
        self._importing = False

    def import_locations(self) -> None:
        """Import the modules that register this registry's types (once; a failed import is retried)."""
        # A lookup made while those modules are still being imported (an import cycle) must not recurse:
        # it sees the types registered so far, as a plain import would.
        if self._imported or self._importing:
            return
        self._importing = True
        try:
            modules = [importlib.import_module(location) for location in self.locations]
            # A module still being initialised (the lookup came from inside its own import) is not done yet.
            self._imported = not any(getattr(m.__spec__, "_initializing", False) for m in modules)
        finally:
            self._importing = False

    def __contains__(self, name: str) -> bool:
        self.import_locations()
        return self._strip(name) in self._modules

    def __len__(self) -> int:
        self.import_locations()
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        self.import_locations()
        return iter(list(self._modules))

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {len(self)} entries)"

    def keys(self) -> list[str]:
        """All registered names (after importing the defining modules)."""
        self.import_locations()
        return list(self._modules)

    @property
    def module_dict(self) -> dict[str, Callable]:
        """All registered names and their classes (a copy)."""
        self.import_locations()
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
            if inspect.isclass(obj):
                set_merged_signature(obj)  # a subclass forwarding **kwargs to its base shows the base's arguments
            for key in keys:
                self._modules[key] = obj
            return obj

        return deco(module) if module is not None else deco

    def add(self, obj: Callable, name: str | None = None) -> Callable:
        """Register ``obj`` directly (for classes defined elsewhere, e.g. torch.optim)."""
        return self.register_module(name)(obj)

    def get(self, name: str) -> Callable:
        """Return the class for ``name``; a dotted path 'pkg.mod.Class' is imported."""
        self.import_locations()
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
    where = f"{registry.name} '{name}'"
    check_kwargs(cls, kwargs, where)
    check_binding(cls, kwargs, where)
    # Called outside any try: a TypeError raised inside the constructor keeps its own traceback.
    return cls(**kwargs)


# Each registry names the modules whose import registers its types (the first lookup imports them).
MODELS = Registry("model", locations=("seglab.models", "seglab.engine.averaged_model"))
DATASETS = Registry("dataset", locations=("seglab.datasets",))
TRANSFORMS = Registry("transform", locations=("seglab.datasets.transforms",))
METRICS = Registry("metric", locations=("seglab.evaluation",))
HOOKS = Registry("hook", locations=("seglab.engine.hooks",))
OPTIMIZERS = Registry("optimizer", locations=("seglab.engine.optim",))
OPTIM_WRAPPERS = Registry("optim_wrapper", locations=("seglab.engine.optim",))
OPTIM_WRAPPER_CONSTRUCTORS = Registry("optim_wrapper_constructor", locations=("seglab.engine.optim",))
PARAM_SCHEDULERS = Registry("param_scheduler", locations=("seglab.engine.schedulers",))
LOOPS = Registry("loop", locations=("seglab.engine.loops",))
DATA_SAMPLERS = Registry("data_sampler", locations=("seglab.engine.dataloader",))
VISUALIZERS = Registry("visualizer", locations=("seglab.visualization",))
VISBACKENDS = Registry("vis_backend", locations=("seglab.visualization",))
