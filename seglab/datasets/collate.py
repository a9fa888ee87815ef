"""Collate functions: merge dataset items into a batch for the data preprocessor."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["COLLATE_FUNCTIONS", "default_collate", "pseudo_collate"]


def pseudo_collate(batch: Sequence[Any]) -> Any:
    """Transpose a list of items into one item of lists, without stacking.

    ``[dict(inputs=t0, data_samples=s0), dict(inputs=t1, ...)] -> dict(inputs=[t0, t1],
    data_samples=[s0, s1])``; images may differ in size (the data preprocessor pads them).
    """
    if len(batch) == 0:
        return []
    first = batch[0]
    if isinstance(first, Mapping):
        for item in batch:
            if set(item) != set(first):
                raise KeyError(f"pseudo_collate: items have different keys: {sorted(first)} vs {sorted(item)}")
        return {k: pseudo_collate([d[k] for d in batch]) for k in first}
    if isinstance(first, tuple) and not hasattr(first, "_fields") and all(len(x) == len(first) for x in batch):
        return [pseudo_collate(list(parts)) for parts in zip(*batch)]
    return list(batch)


def default_collate(batch: Sequence[Any]) -> Any:
    """Like ``pseudo_collate`` but stacks tensors/arrays/numbers of equal shape into one tensor."""
    if len(batch) == 0:
        return []
    first = batch[0]
    if isinstance(first, Mapping):
        return {k: default_collate([d[k] for d in batch]) for k in first}
    if isinstance(first, torch.Tensor):
        return torch.stack(list(batch))
    if isinstance(first, np.ndarray):
        return torch.from_numpy(np.stack(batch))
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        return torch.tensor(batch)
    if isinstance(first, tuple) and all(len(x) == len(first) for x in batch):
        return [default_collate(list(parts)) for parts in zip(*batch)]
    return list(batch)


COLLATE_FUNCTIONS: dict[str, Callable[[Sequence[Any]], Any]] = {
    "pseudo_collate": pseudo_collate,
    "default_collate": default_collate,
}
