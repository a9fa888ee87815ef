"""Write a generated config: plain dicts, everything inline (no ``_base_``), every choice commented."""
from __future__ import annotations

from typing import Any

__all__ = ["py", "render_config"]


def py(value: Any, indent: int = 0, column: int = 0, width: int = 100) -> str:
    """``value`` as Python source in MMSeg's config style (``dict(a=1)``); a dict or list that would end past
    ``width`` (starting at ``column``) is written one item per line, ``indent`` + 4 spaces deep."""
    flat = _flat(value)
    if column + len(flat) <= width or not isinstance(value, (dict, list)) or not value:
        return flat
    pad = " " * (indent + 4)
    if isinstance(value, dict) and all(isinstance(k, str) and k.isidentifier() for k in value):
        items = [f"{pad}{k}={py(v, indent + 4, indent + 5 + len(k), width)}" for k, v in value.items()]
        return "dict(\n" + ",\n".join(items) + ")"
    if isinstance(value, list):
        items = [pad + py(v, indent + 4, indent + 4, width) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    return flat


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        if all(isinstance(k, str) and k.isidentifier() for k in value):
            return "dict(" + ", ".join(f"{k}={_flat(v)}" for k, v in value.items()) + ")"
        return "{" + ", ".join(f"{_flat(k)}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_flat(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def render_config(sections: list[tuple[list[str], str, Any]], header: list[str]) -> str:
    """The file text: ``header`` comment lines, then per section its comment lines and ``name = value``."""
    lines = [f"# {h}" if h else "#" for h in header]
    for comments, name, value in sections:
        lines.append("")
        lines.extend(f"# {c}" for c in comments)
        lines.append(f"{name} = {py(value, 0, len(name) + 3)}")
    return "\n".join(lines) + "\n"
