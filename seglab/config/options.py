"""Parse ``--cfg-options key=value`` overrides (MMEngine ``DictAction`` value forms)."""
from __future__ import annotations

import argparse
import ast
from collections.abc import Iterable, Sequence
from typing import Any

from seglab.registry import ConfigError

__all__ = ["DictAction", "parse_cfg_options", "parse_value"]

_PAIRS = {"[": "]", "(": ")", "{": "}"}


def _split_top_level(text: str, where: str) -> list[str]:
    """Split ``text`` at commas that are outside brackets and quotes."""
    parts, depth, quote, start = [], [], None, 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in _PAIRS:
            depth.append(_PAIRS[ch])
        elif ch in ")]}":
            if not depth or depth.pop() != ch:
                raise ConfigError(f"{where}: unbalanced '{ch}' in {text!r}")
        elif ch == "," and not depth:
            parts.append(text[start:i])
            start = i + 1
    if depth or quote:
        raise ConfigError(f"{where}: unclosed {'quote' if quote else repr(depth[-1])} in {text!r}")
    parts.append(text[start:])
    return parts


def _closes_at_end(text: str) -> bool:
    """True when the bracket opening ``text`` is closed by its last character (``[1],[2]`` is not)."""
    depth, quote = 0, None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i == len(text) - 1
    return False


def _scalar(text: str) -> Any:
    """int, float, bool, None or the string itself (quotes removed)."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text == "None":  # only this spelling: 'none' is a real value (e.g. reduction='none')
        return None
    return text


def parse_value(text: str, where: str = "--cfg-options") -> Any:
    """Parse one override value: ``1``, ``0.5``, ``True``, ``None``, ``abc``, ``[1,2]``, ``(1,2)``, ``1,2``, nested.

    A bare comma list becomes a list (``a=1,2`` -> ``[1, 2]``), as in MMEngine; ``{...}`` is read as a
    Python literal.
    """
    text = text.strip()
    if text[:1] == "{":
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError) as exc:
            raise ConfigError(f"{where}: cannot read {text!r} as a dict literal: {exc}") from None
    if text[:1] in "[(" and _closes_at_end(text):
        inner = text[1:-1].strip()
        items = [] if not inner else _split_top_level(inner, where)
        if items and not items[-1].strip():  # trailing comma: '(1,)'
            items = items[:-1]
        values = [parse_value(item, where) for item in items]
        return values if text[0] == "[" else tuple(values)
    parts = _split_top_level(text, where)
    if len(parts) > 1:
        return [parse_value(p, where) for p in parts if p.strip()]
    return _scalar(text)


def parse_cfg_options(options: Iterable[str] | None) -> dict[str, Any]:
    """Turn ``['a.b=1', 'x=[1,2]']`` into ``{'a.b': 1, 'x': [1, 2]}`` (keys stay dotted)."""
    result: dict[str, Any] = {}
    for item in options or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--cfg-options: expected KEY=VALUE, got {item!r}")
        result[key.strip()] = parse_value(value, where=f"--cfg-options {key.strip()}")
    return result


class DictAction(argparse.Action):
    """argparse action for ``--cfg-options k1=v1 k2=v2``: stores a dict of parsed values."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        items = [values] if isinstance(values, str) else list(values or [])
        merged = dict(getattr(namespace, self.dest, None) or {})
        try:
            merged.update(parse_cfg_options(items))
        except ConfigError as exc:
            parser.error(str(exc))
        setattr(namespace, self.dest, merged)


def bool_switch(cfg: Any, key: str, default: bool = True, given: bool | None = None) -> bool:
    """A run-wide on/off config key (``given`` wins when not None); anything but True/False is a ConfigError."""
    value = cfg.get(key, default) if given is None else given
    if not isinstance(value, bool):
        source = getattr(cfg, "filename", None)
        raise ConfigError(f"{source + ': ' if source else ''}{key} must be True or False, got {value!r}")
    return value
