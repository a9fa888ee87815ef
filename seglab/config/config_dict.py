"""``ConfigDict``: a dict with attribute access whose nested dicts are ConfigDicts too."""
from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

__all__ = ["ConfigDict", "to_config_value", "to_plain"]


def to_config_value(value: Any) -> Any:
    """Turn plain dicts (also inside lists and tuples) into ConfigDicts; leave other values alone."""
    if isinstance(value, ConfigDict):
        return value
    if isinstance(value, Mapping):
        return ConfigDict(value)
    if isinstance(value, tuple) and not hasattr(value, "_fields"):  # keep namedtuples as they are
        return tuple(to_config_value(v) for v in value)
    if isinstance(value, list):
        return [to_config_value(v) for v in value]
    return value


def to_plain(value: Any) -> Any:
    """Turn ConfigDicts (also nested in lists and tuples) back into plain dicts."""
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(to_plain(v) for v in value)
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


class ConfigDict(dict):
    """A dict whose keys are also attributes (``cfg.model.backbone.depth``).

    Nested dicts are converted on assignment, so every level has attribute access. A missing
    attribute raises ``AttributeError`` naming the key and the closest existing keys.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, to_config_value(value))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            if name.startswith("__"):  # copy/pickle probe dunders; keep their usual behaviour
                raise AttributeError(name) from None
            keys = [k for k in self if isinstance(k, str)]
            hint = difflib.get_close_matches(name, keys, n=3, cutoff=0.5)
            msg = f"config has no key '{name}'"
            if hint:
                msg += f"; did you mean {', '.join(repr(h) for h in hint)}?"
            elif keys:
                msg += f" (keys: {', '.join(keys)})"
            raise AttributeError(msg) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"config has no key '{name}'") from None

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Like ``dict.update``, converting nested dicts."""
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """Like ``dict.setdefault``, converting a dict default."""
        if key not in self:
            self[key] = default
        return self[key]

    def copy(self) -> ConfigDict:
        """A shallow copy that is still a ConfigDict."""
        return ConfigDict(self)

    def to_dict(self) -> dict:
        """A deep copy made of plain dicts, lists and tuples."""
        return to_plain(self)

    def __reduce__(self) -> tuple:
        # Pickle/deepcopy as (class, (plain dict,)) so the attribute hooks never see a half-built object.
        return (self.__class__, (dict(self),))

    def __repr__(self) -> str:
        return f"ConfigDict({dict.__repr__(self)})"
