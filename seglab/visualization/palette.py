"""Class colour palettes: from a dataset's metainfo, a given list, or a deterministic random draw."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seglab.registry import DATASETS, ConfigError, closest

__all__ = ["dataset_meta", "get_palette", "random_palette"]


def random_palette(num_classes: int, seed: int = 42) -> list[list[int]]:
    """``num_classes`` RGB colours drawn with a fixed seed (same colours every call, no global RNG)."""
    if num_classes < 0:
        raise ValueError(f"num_classes must be >= 0, got {num_classes}")
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(num_classes, 3)).tolist()


def _dataset_class(name: str) -> type:
    names = DATASETS.module_dict  # the registry imports seglab.datasets on first use
    wanted = name.lower().replace("_", "").replace("-", "")
    for key, cls in names.items():
        norm = key.lower()
        if wanted in (norm, norm.removesuffix("dataset")):
            return cls
    hint = closest(name, [k.removesuffix("Dataset") for k in names])
    raise ConfigError(
        f"get_palette: unknown dataset name {name!r}"
        + (f"; did you mean {', '.join(map(repr, hint))}?" if hint else "")
    )


def dataset_meta(name: str) -> dict:
    """``{'classes', 'palette'}`` of a registered dataset, by its name ('cityscapes', 'CamVidDataset', ...)."""
    meta = getattr(_dataset_class(name), "METAINFO", {}) or {}
    classes = list(meta.get("classes") or [])
    palette = meta.get("palette")
    return dict(
        classes=classes, palette=[list(map(int, c)) for c in palette] if palette else random_palette(len(classes))
    )


def _is_palette(value: Sequence) -> bool:
    return all(isinstance(c, (Sequence, np.ndarray)) and not isinstance(c, str) and len(c) == 3 for c in value)


def get_palette(spec: str | int | Sequence, seed: int = 42) -> list[list[int]]:
    """Return an RGB palette (K, 3) for a dataset name, a list of class names, a class count or a palette."""
    if isinstance(spec, str):
        return dataset_meta(spec)["palette"]
    if isinstance(spec, (int, np.integer)):
        return random_palette(int(spec), seed)
    spec = list(spec)
    if spec and _is_palette(spec):
        colours = [[int(v) for v in c] for c in spec]
        if any(not 0 <= v <= 255 for c in colours for v in c):
            raise ValueError("get_palette: palette values must be in [0, 255]")
        return colours
    return random_palette(len(spec), seed)  # a list of class names
