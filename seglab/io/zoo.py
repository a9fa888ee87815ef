"""Named checkpoints: ``open-mmlab://resnet50_v1c``, ``torchvision://resnet50``, ``mmcls://mobilenet_v2``.

The names and their URLs are data, one JSON file per family in ``model_zoo/`` (the tables MMCV and
mmengine resolve the same names with). Each file lists its ``schemes``, the ``urls`` by name,
deprecated ``aliases``, an optional ``keep_prefix`` (mmcls classifiers store their backbone under
``backbone.``, and only those weights, without the prefix, are what the name stands for) and
``unchecked_hash``: names whose file-name hash is known not to be the file's sha256 prefix.
"""

from __future__ import annotations

import functools
import json
import os
import os.path as osp
from dataclasses import dataclass

from ..registry import ConfigError, closest

__all__ = ["ZooEntry", "is_zoo_name", "resolve_zoo_name", "zoo_schemes", "zoo_table"]

_TABLE_DIR = osp.join(osp.dirname(osp.abspath(__file__)), "model_zoo")


@dataclass(frozen=True)
class ZooEntry:
    """Where a checkpoint name points: its ``url``, the key prefix to keep (and strip), if any, and
    whether the ``-<hash>`` in the file name can be checked (a few published names carry a wrong one)."""

    name: str
    url: str
    keep_prefix: str | None = None
    check_hash: bool = True


@functools.lru_cache(maxsize=1)
def _tables() -> dict[str, dict]:
    """scheme (``'open-mmlab://'``) -> its table, read once from ``model_zoo/*.json``."""
    tables: dict[str, dict] = {}
    for file in sorted(f for f in os.listdir(_TABLE_DIR) if f.endswith(".json")):
        with open(osp.join(_TABLE_DIR, file), encoding="utf-8") as f:
            table = json.load(f)
        table["file"] = file
        for scheme in table["schemes"]:
            if scheme in tables:
                raise ValueError(f"model_zoo/{file}: scheme {scheme} is also defined in {tables[scheme]['file']}")
            tables[scheme] = table
    return tables


def zoo_schemes() -> list[str]:
    """Every scheme with a table, e.g. ``['mmcls://', 'mmpretrain://', 'modelzoo://', ...]``."""
    return sorted(_tables())


def zoo_table(scheme: str) -> dict[str, str]:
    """The ``name -> url`` table behind ``scheme`` (aliases not included)."""
    return dict(_tables()[scheme]["urls"])


def is_zoo_name(source: str) -> bool:
    """Whether ``source`` starts with one of the table schemes."""
    return any(source.startswith(s) for s in _tables())


def resolve_zoo_name(source: str) -> ZooEntry:
    """``'open-mmlab://resnet50_v1c'`` -> its URL; an unknown name raises ConfigError naming the closest ones."""
    scheme = next((s for s in _tables() if source.startswith(s)), None)
    if scheme is None:
        raise ConfigError(f"{source!r} has none of the checkpoint schemes {', '.join(zoo_schemes())}")
    table = _tables()[scheme]
    name = source[len(scheme):]
    name = table["aliases"].get(name, name)
    urls = table["urls"]
    if name not in urls:
        close = closest(name, list(urls) + list(table["aliases"]), n=5)
        hint = f"; closest known: {', '.join(scheme + c for c in close)}" if close else ""
        raise ConfigError(
            f"unknown checkpoint name {source!r}{hint}. Known {scheme} names are listed in "
            f"seglab/io/model_zoo/{table['file']}; any http(s):// URL or local path works too"
        )
    return ZooEntry(name=scheme + name, url=urls[name], keep_prefix=table.get("keep_prefix"),
                    check_hash=name not in table.get("unchecked_hash", ()))
