"""Read config files (Python, YAML, JSON) and resolve ``_base_`` inheritance into one plain dict."""
from __future__ import annotations

import ast
import copy
import json
import re
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seglab.registry import ConfigError

__all__ = ["BASE_KEY", "DELETE_KEY", "load_file", "merge_into"]

BASE_KEY = "_base_"
DELETE_KEY = "_delete_"
SUFFIXES = (".py", ".yaml", ".yml", ".json")
# MMEngine's text substitution: `{{_base_.model.backbone.depth}}`, optionally quoted.
_BASE_REF = re.compile(r"""(['"]?)\{\{\s*_base_\.([\w.]+)\s*\}\}\1""")


def _ref_expr(dotted: str) -> str:
    """``'a.0.b'`` -> ``'_base_["a"][0]["b"]'`` (a Python expression for the substitution)."""
    parts = [f"[{p}]" if p.isdigit() else f"[{p!r}]" for p in dotted.split(".")]
    return BASE_KEY + "".join(parts)


def _lookup(tree: Any, dotted: str, where: str) -> Any:
    """Follow ``a.0.b`` into nested dicts/lists for a ``{{_base_.a.0.b}}`` reference."""
    node = tree
    for part in dotted.split("."):
        try:
            node = node[int(part)] if part.isdigit() and isinstance(node, (list, tuple)) else node[part]
        except (KeyError, IndexError, TypeError):
            raise ConfigError(f"{where}: '{{{{_base_.{dotted}}}}}' refers to a key the bases do not define") from None
    return copy.deepcopy(node)


def _substitute_strings(value: Any, bases: dict, where: str) -> Any:
    """Replace string values that are exactly ``{{_base_.x}}`` (YAML/JSON configs) by the base value."""
    if isinstance(value, str):
        m = _BASE_REF.fullmatch(value.strip())
        return _lookup(bases, m.group(2), where) if m else value
    if isinstance(value, dict):
        return {k: _substitute_strings(v, bases, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_strings(v, bases, where) for v in value]
    return value


def merge_into(child: Mapping, base: Mapping, where: str, path: str = "") -> dict:
    """Merge ``child`` over ``base`` key by key (a new dict); ``_delete_=True`` replaces, lists replace."""
    out = dict(base)
    for key, value in child.items():
        full = f"{path}.{key}" if path else str(key)
        if isinstance(value, Mapping):
            delete = value.get(DELETE_KEY, False)
            if not isinstance(delete, bool):
                raise ConfigError(f"{where}: '{full}._delete_' must be True or False, got {delete!r}")
            value = {k: v for k, v in value.items() if k != DELETE_KEY}
            if not delete and isinstance(out.get(key), Mapping):
                value = merge_into(value, out[key], where, full)
            else:
                value = strip_delete(value, where, full)
        out[key] = value
    return out


def strip_delete(value: Any, where: str, path: str = "") -> Any:
    """Remove ``_delete_`` flags left where there is nothing to merge into (checking they are bools)."""
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if k == DELETE_KEY:
                if not isinstance(v, bool):
                    raise ConfigError(f"{where}: '{path}._delete_' must be True or False, got {v!r}")
                continue
            out[k] = strip_delete(v, where, f"{path}.{k}" if path else str(k))
        return out
    if isinstance(value, list):
        return [strip_delete(v, where, path) for v in value]
    if isinstance(value, tuple):
        return tuple(strip_delete(v, where, path) for v in value)
    return value


def _base_paths(raw: Any, filename: Path) -> list[Path]:
    """The ``_base_`` entries of ``filename`` as absolute paths (each must exist)."""
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{filename}: '_base_' must be a path or a list of paths, got {raw!r}")
    paths = []
    for item in items:
        if "::" in item:
            raise ConfigError(
                f"{filename}: package-scoped base '{item}' is not supported; copy that file next to "
                "your config and refer to it by a relative path"
            )
        path = (filename.parent / item).resolve()
        if not path.is_file():
            raise ConfigError(f"{filename}: _base_ file '{item}' not found (looked for {path})")
        paths.append(path)
    return paths


def _python_base_list(text: str, filename: Path) -> Any:
    """Read ``_base_ = ...`` from Python source without running it (it must be a literal)."""
    tree = _parse(_BASE_REF.sub(lambda m: _ref_expr(m.group(2)), text), filename)
    for node in tree.body:
        if isinstance(node, ast.Assign) and _assigns_base(node):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                raise ConfigError(
                    f"{filename}:{node.lineno}: '_base_' must be a literal path or list of paths"
                ) from None
    return None


def _assigns_base(node: ast.Assign) -> bool:
    return any(isinstance(t, ast.Name) and t.id == BASE_KEY for t in node.targets)


def _parse(text: str, filename: Path) -> ast.Module:
    """``ast.parse`` with a ConfigError naming file and line on a syntax error."""
    try:
        return ast.parse(text, filename=str(filename))
    except SyntaxError as exc:
        line = (exc.text or "").strip()
        raise ConfigError(f"{filename}:{exc.lineno}: syntax error: {exc.msg}" + (f": {line}" if line else "")) from None


def _run_python(text: str, filename: Path, bases: dict) -> dict:
    """Execute a Python config with the base variables (and ``_base_``) visible; return its own keys."""
    from .config_dict import ConfigDict

    tree = _parse(text, filename)
    # Drop `_base_ = [...]` so that `_base_` stays the merged base dict while the child runs.
    tree.body = [n for n in tree.body if not (isinstance(n, ast.Assign) and _assigns_base(n))]
    code = compile(tree, str(filename), "exec")
    # Inject copies so that in-place edits in the child never leak into the bases' values.
    injected = {k: copy.deepcopy(v) for k, v in bases.items()}
    namespace: dict[str, Any] = {"__file__": str(filename), "__name__": "__config__", **injected}
    namespace[BASE_KEY] = ConfigDict(copy.deepcopy(bases))
    try:
        exec(code, namespace)  # noqa: S102 - running the config file is what loading a Python config means
    except ConfigError:
        raise
    except Exception as exc:  # re-raised as ConfigError with file and line
        tb, line = exc.__traceback__, None
        while tb is not None:  # the innermost frame that belongs to the config file
            if tb.tb_frame.f_code.co_filename == str(filename):
                line = tb.tb_lineno
            tb = tb.tb_next
        where = f"{filename}:{line}" if line else str(filename)
        raise ConfigError(f"{where}: error while executing the config: {type(exc).__name__}: {exc}") from exc
    own = {}
    for key, value in namespace.items():
        if key.startswith("__") or key == BASE_KEY:
            continue
        if isinstance(value, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType)):
            continue  # `import os`, helper functions: tools for the file, not config keys
        if key in bases and _same(value, bases[key]):
            continue  # an inherited variable the child did not touch
        own[key] = value
    return own


def _same(a: Any, b: Any) -> bool:
    """Equality that treats a failing comparison as 'different'."""
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - e.g. arrays whose == is elementwise: treat as changed
        return False


def _read_data(text: str, filename: Path) -> dict:
    """Load a YAML or JSON config into a dict."""
    try:
        if filename.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - json.JSONDecodeError / yaml.YAMLError carry line numbers in their text
        raise ConfigError(f"{filename}: cannot parse: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{filename}: the top level must be a mapping, got {type(data).__name__}")
    return data


def load_file(filename: str | Path, _stack: tuple[Path, ...] = ()) -> tuple[dict, list[tuple[Path, str]]]:
    """Load ``filename`` with its bases merged; return ``(dict, [(path, text), ...])`` (bases first)."""
    path = Path(filename).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"config file '{filename}' not found")
    if path.suffix not in SUFFIXES:
        raise ConfigError(f"{path}: unsupported config suffix '{path.suffix}' (use one of {', '.join(SUFFIXES)})")
    if path in _stack:
        chain = " -> ".join(str(p) for p in (*_stack, path))
        raise ConfigError(f"circular _base_ inheritance: {chain}")
    text = path.read_text(encoding="utf-8")
    data = _read_data(text, path) if path.suffix != ".py" else None
    raw_bases = _python_base_list(text, path) if data is None else data.pop(BASE_KEY, None)

    bases: dict = {}
    owners: dict[str, Path] = {}
    texts: list[tuple[Path, str]] = []
    for base_path in _base_paths(raw_bases, path):
        base_dict, base_texts = load_file(base_path, (*_stack, path))
        for key in base_dict:
            if key in owners:
                raise ConfigError(
                    f"{path}: key '{key}' is defined by two bases ({owners[key]} and {base_path}); "
                    "set it in this file instead, or drop one base"
                )
            owners[key] = base_path
        bases.update(base_dict)
        texts.extend(base_texts)

    if data is None:
        own = _run_python(_BASE_REF.sub(lambda m: _ref_expr(m.group(2)), text), path, bases)
    else:
        own = _substitute_strings(data, bases, str(path))
    if DELETE_KEY in own:
        raise ConfigError(f"{path}: '_delete_' belongs inside a dict (e.g. model=dict(_delete_=True, ...)), not at top level")
    texts.append((path, text))
    return merge_into(own, bases, str(path)), texts
