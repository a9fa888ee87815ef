"""Write a config dict as Python source that loads back to the same dict."""
from __future__ import annotations

import keyword
import math
import unicodedata
from typing import Any

from seglab.registry import ConfigError

__all__ = ["format_python"]

WIDTH = 100


def _is_name(key: Any) -> bool:
    # Python NFKC-normalises identifiers ('µ' reads back as 'μ'), so only keys that survive that
    # may be written as keyword arguments; the rest go into a dict literal.
    return (isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)
            and unicodedata.normalize("NFKC", key) == key)


def _scalar(value: Any, where: str) -> str:
    """Source text of a scalar value."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"  # repr(inf) is not valid Python
    if value is None or isinstance(value, (bool, int, float, str, bytes, complex)):
        return repr(value)
    if isinstance(value, type):
        # A class cannot be written as source; its import path builds the same thing via the registry.
        return repr(f"{value.__module__}.{value.__qualname__}")
    raise ConfigError(f"cannot dump config key '{where}': a {type(value).__name__} value has no source form")


def _format(value: Any, indent: int, where: str) -> str:
    """Source text of ``value``, on one line when it fits, else one item per line."""
    if isinstance(value, dict):
        if all(_is_name(k) for k in value):
            items = [(f"{k}=", _format(v, indent + 4, f"{where}.{k}")) for k, v in value.items()]
            open_, close = "dict(", ")"
        else:
            items = [(f"{_scalar(k, where)}: ", _format(v, indent + 4, f"{where}.{k}")) for k, v in value.items()]
            open_, close = "{", "}"
    elif isinstance(value, (list, tuple)):
        items = [("", _format(v, indent + 4, f"{where}.{i}")) for i, v in enumerate(value)]
        open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
        if isinstance(value, tuple) and len(value) == 1:
            return f"({items[0][1]},)"
    else:
        return _scalar(value, where)
    flat = open_ + ", ".join(p + t for p, t in items) + close
    if "\n" not in flat and indent + len(flat) <= WIDTH:
        return flat
    pad = " " * (indent + 4)
    body = "".join(f"{pad}{p}{t},\n" for p, t in items)
    return f"{open_}\n{body}{' ' * indent}{close}"


def format_python(cfg: dict) -> str:
    """Python source of ``cfg``: one ``key = value`` statement per top-level key."""
    lines = []
    for key, value in cfg.items():
        text = _format(value, 0, str(key))
        # Non-identifier top-level keys still round-trip through the module namespace.
        target = key if _is_name(key) else f"globals()[{key!r}]"
        lines.append(f"{target} = {text}")
    return "\n".join(lines) + "\n"
