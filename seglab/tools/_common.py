"""Shared plumbing for the dataset tools: config loading, split selection, a progress bar."""
from __future__ import annotations

import copy
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO, TypeVar

from seglab.registry import ConfigError

__all__ = ["build_dataset", "load_config", "progress", "split_dataset_cfgs"]

T = TypeVar("T")
_WRAPPERS = ("RepeatDataset", "ConcatDataset", "ClassBalancedDataset", "MultiImageMixDataset")


def load_config(path: str, cfg_options: dict[str, Any] | None = None) -> Any:
    """``Config.fromfile(path)`` with ``--cfg-options`` overrides applied."""
    from seglab.config import Config

    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def _unwrap(ds_cfg: dict, where: str) -> list[dict]:
    """Dataset configs inside wrappers (RepeatDataset.dataset, ConcatDataset.datasets), in order."""
    if not isinstance(ds_cfg, dict):
        return [ds_cfg]  # an already built dataset object
    kind = ds_cfg.get("type")
    if isinstance(kind, str) and kind.rsplit(".", 1)[-1] in _WRAPPERS:
        if "datasets" in ds_cfg:
            return [d for i, sub in enumerate(ds_cfg["datasets"]) for d in _unwrap(sub, f"{where}.datasets.{i}")]
        if "dataset" in ds_cfg:
            return _unwrap(ds_cfg["dataset"], f"{where}.dataset")
        raise ConfigError(f"{where}: {kind} has neither 'dataset' nor 'datasets'")
    return [ds_cfg]


def split_dataset_cfgs(cfg: Any, split: str = "train") -> list[dict]:
    """The plain dataset configs of ``<split>_dataloader.dataset`` (wrappers unwrapped), as dict copies."""
    key = f"{split}_dataloader"
    loader = cfg.get(key)
    if not loader or "dataset" not in loader:
        found = [k for k in cfg if k.endswith("_dataloader")]
        raise ConfigError(f"config has no '{key}.dataset'; dataloaders in this config: {found or 'none'}")
    plain = loader["dataset"]
    plain = plain.to_dict() if hasattr(plain, "to_dict") else copy.deepcopy(plain)
    return _unwrap(plain, f"{key}.dataset")


def build_dataset(ds_cfg: dict | Any, **overrides: Any) -> Any:
    """Build one dataset from its config (``overrides`` replace keys), or return an object as is."""
    if not isinstance(ds_cfg, dict):
        return ds_cfg
    from seglab.registry import DATASETS

    cfg = copy.deepcopy(ds_cfg)
    cfg.update(overrides)
    return DATASETS.build(cfg)


def progress(items: Iterable[T], total: int, desc: str = "", stream: TextIO | None = None) -> Iterator[T]:
    """Yield ``items``; draw a redrawn bar on a TTY, else a plain line every 10% (quiet logs)."""
    stream = stream or sys.stderr
    tty = hasattr(stream, "isatty") and stream.isatty()
    start, step, next_mark = time.monotonic(), max(1, total // 10), 0
    done = 0
    for item in items:
        yield item
        done += 1
        if tty:
            frac = done / max(total, 1)
            bar = "#" * int(30 * frac)
            rate = done / max(time.monotonic() - start, 1e-6)
            stream.write(f"\r{desc} [{bar:<30}] {done}/{total} {rate:.1f} it/s")
            if done == total:
                stream.write("\n")
            stream.flush()
        elif done >= next_mark or done == total:
            stream.write(f"{desc} {done}/{total}\n")
            next_mark = done + step
    if tty and done != total:
        stream.write("\n")


def describe_names(names: Sequence[str], limit: int = 20) -> str:
    """Up to ``limit`` names, then 'and N more'."""
    shown = ", ".join(names[:limit])
    return shown + (f", and {len(names) - limit} more" if len(names) > limit else "")
