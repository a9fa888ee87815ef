"""``Config``: a loaded config file (MMSeg-compatible) with overrides and dump."""
from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from seglab.registry import ConfigError

from .config_dict import ConfigDict, to_plain
from .formatting import format_python
from .loader import load_file, merge_into

__all__ = ["Config"]


class Config(MutableMapping):
    """A config: a ``ConfigDict`` of everything a file (and its bases) defines, plus where it came from.

    Attribute and item access go to the dict: ``cfg.model.backbone.depth``, ``cfg['model']``. It is a
    ``Mapping``, so ``REG.build(cfg.model)`` and ``dict(cfg)`` work as with a dict.
    """

    def __init__(self, cfg_dict: Mapping | None = None, filename: str | Path | None = None, text: str = "") -> None:
        if cfg_dict is not None and not isinstance(cfg_dict, Mapping):
            raise ConfigError(f"Config needs a dict, got {type(cfg_dict).__name__}")
        object.__setattr__(self, "_cfg_dict", ConfigDict(cfg_dict or {}))
        object.__setattr__(self, "_filename", str(filename) if filename is not None else None)
        object.__setattr__(self, "_text", text)

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def fromfile(cls, filename: str | Path) -> Config:
        """Load a ``.py``/``.yaml``/``.json`` config, resolving ``_base_`` and ``_delete_``."""
        data, texts = load_file(filename)
        text = "\n".join(f"# {path}\n{body}" for path, body in texts)
        return cls(data, filename=filename, text=text)

    @classmethod
    def fromstring(cls, text: str, file_format: str = ".py") -> Config:
        """Load a config from its text (``_base_`` paths are relative to the working directory)."""
        import tempfile

        suffix = file_format if file_format.startswith(".") else f".{file_format}"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"config{suffix}"
            path.write_text(text, encoding="utf-8")
            data, _ = load_file(path)
        return cls(data, text=text)

    # ---- dict-like access ---------------------------------------------------------------------
    @property
    def filename(self) -> str | None:
        """The path this config was loaded from (None when built from a dict)."""
        return self._filename

    @property
    def text(self) -> str:
        """The source text of the file and its bases (bases first), each after a ``# path`` line."""
        return self._text

    @property
    def pretty_text(self) -> str:
        """The resolved config as Python source that ``fromfile`` loads back to the same dict."""
        return format_python(self.to_dict())

    def to_dict(self) -> dict:
        """A deep copy of the resolved config as plain dicts/lists/tuples."""
        return to_plain(self._cfg_dict)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_cfg_dict", "_filename", "_text"):
            raise AttributeError(name)  # not yet set (e.g. mid-unpickling): don't recurse
        return getattr(self._cfg_dict, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._cfg_dict[name] = value

    def __delattr__(self, name: str) -> None:
        delattr(self._cfg_dict, name)

    def __getitem__(self, key: str) -> Any:
        return self._cfg_dict[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._cfg_dict[key] = value

    def __delitem__(self, key: str) -> None:
        del self._cfg_dict[key]

    def __contains__(self, key: object) -> bool:
        return key in self._cfg_dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._cfg_dict)

    def __len__(self) -> int:
        return len(self._cfg_dict)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Config):
            return self.to_dict() == other.to_dict()
        return NotImplemented

    def __repr__(self) -> str:
        return f"Config(path: {self._filename}): {dict(self._cfg_dict)!r}"

    def __deepcopy__(self, memo: dict) -> Config:
        return Config(copy.deepcopy(self.to_dict(), memo), self._filename, self._text)

    def __copy__(self) -> Config:
        return Config(self._cfg_dict, self._filename, self._text)

    def __getstate__(self) -> tuple:
        return (self.to_dict(), self._filename, self._text)

    def __setstate__(self, state: tuple) -> None:
        Config.__init__(self, *state)

    def get(self, key: str, default: Any = None) -> Any:
        """``dict.get`` on the top level."""
        return self._cfg_dict.get(key, default)

    def keys(self) -> Any:
        """Top-level keys."""
        return self._cfg_dict.keys()

    def values(self) -> Any:
        """Top-level values."""
        return self._cfg_dict.values()

    def items(self) -> Any:
        """Top-level items."""
        return self._cfg_dict.items()

    def pop(self, key: str, *default: Any) -> Any:
        """``dict.pop`` on the top level."""
        return self._cfg_dict.pop(key, *default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        """``dict.setdefault`` on the top level."""
        return self._cfg_dict.setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """``dict.update`` on the top level (values replace, they do not merge)."""
        self._cfg_dict.update(*args, **kwargs)

    # ---- overrides ----------------------------------------------------------------------------
    def merge_from_dict(self, options: Mapping[str, Any], allow_list_keys: bool = True) -> None:
        """Apply ``{'model.backbone.depth': 101, 'a.0.b': 1}`` overrides (dotted keys; digits index lists).

        A dict value merges into the existing dict (``_delete_=True`` replaces it); anything else
        replaces. New keys may be created; a path through a non-container value is an error.
        """
        where = f"--cfg-options ({self._filename})" if self._filename else "--cfg-options"
        root = self.to_dict()
        for dotted, value in options.items():
            root = _set_dotted(root, str(dotted).split("."), to_plain(value), dotted, where, allow_list_keys)
        object.__setattr__(self, "_cfg_dict", ConfigDict(root))

    # ---- output -------------------------------------------------------------------------------
    def dump(self, file: str | Path | None = None) -> str | None:
        """Write the resolved config to ``file`` (format from its suffix), or return Python text."""
        if file is None:
            return self.pretty_text
        path = Path(file)
        data = self.to_dict()
        if path.suffix == ".py":
            text = format_python(data)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            text = yaml.safe_dump(_lists(data), sort_keys=False, default_flow_style=None)
        elif path.suffix == ".json":
            text = json.dumps(_lists(data), indent=2) + "\n"
        else:
            raise ConfigError(f"cannot dump a config to '{path}': use a .py, .yaml, .yml or .json name")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return None


def _lists(value: Any) -> Any:
    """Tuples -> lists (YAML/JSON have no tuples); class values -> their import path."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return value


def _set_dotted(node: Any, parts: list[str], value: Any, dotted: str, where: str, allow_list_keys: bool) -> Any:
    """Return ``node`` with ``parts`` set to ``value`` (containers are copied on the way down)."""
    head, rest = parts[0], parts[1:]
    done = ".".join(dotted.split(".")[: len(dotted.split(".")) - len(parts)])
    here = f"{done}.{head}" if done else head
    if isinstance(node, dict):
        if not rest:
            out = dict(node)
            if isinstance(value, Mapping):
                out = merge_into({head: value}, node, where)
            else:
                out[head] = value
            return out
        out = dict(node)
        out[head] = _set_dotted(node.get(head, {}), rest, value, dotted, where, allow_list_keys)
        return out
    if isinstance(node, (list, tuple)):
        if not allow_list_keys:
            raise ConfigError(f"{where}: '{dotted}': '{done}' is a list and list keys are not allowed here")
        if not head.isdigit():
            raise ConfigError(f"{where}: '{dotted}': '{done}' is a list, so '{head}' must be an index")
        index = int(head)
        if index >= len(node):
            raise ConfigError(f"{where}: '{dotted}': index {index} is out of range for '{done}' (length {len(node)})")
        items = list(node)
        if rest:
            items[index] = _set_dotted(items[index], rest, value, dotted, where, allow_list_keys)
        elif isinstance(value, Mapping) and isinstance(items[index], Mapping):
            items[index] = merge_into(value, items[index], where, here)
        else:
            items[index] = value
        return type(node)(items) if isinstance(node, tuple) else items
    raise ConfigError(
        f"{where}: cannot set '{dotted}': '{done}' is {type(node).__name__} {node!r}, not a dict or list"
    )

