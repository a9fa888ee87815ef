"""Resolving an mmpretrain-style ``arch`` argument: a name of the class's ``arch_settings`` or a dict."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...registry import ConfigError

__all__ = ["resolve_arch"]


def resolve_arch(owner: str, arch: str | Mapping, settings: Mapping[str, dict], required: Sequence[str]) -> dict:
    """The settings dict ``arch`` names, or ``arch`` itself when it is a dict holding the ``required`` keys."""
    if isinstance(arch, str):
        if arch not in settings:
            raise ConfigError(f"{owner}: unknown arch {arch!r}; choose one of {sorted(settings)} "
                              f"or pass a dict with {', '.join(required)}")
        return dict(settings[arch])
    if not isinstance(arch, Mapping) or any(key not in arch for key in required):
        raise ConfigError(f"{owner}: an arch dict needs {', '.join(repr(k) for k in required)}, got {arch!r}")
    return dict(arch)
