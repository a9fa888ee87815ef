"""Compose: chain transforms given as config dicts or callables."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from seglab.registry import TRANSFORMS

__all__ = ["Compose"]


@TRANSFORMS.register_module()
class Compose:
    """Apply ``transforms`` in order; a transform returning None stops the chain and yields None."""

    def __init__(self, transforms: Sequence[dict | Callable] | None = None) -> None:
        self.transforms: list[Callable] = []
        for i, t in enumerate(transforms or []):
            if isinstance(t, dict):
                t = TRANSFORMS.build(t)
            if not callable(t):
                raise TypeError(f"pipeline entry {i} must be a config dict or a callable, got {type(t).__name__}")
            self.transforms.append(t)

    def __call__(self, results: dict) -> dict | None:
        for t in self.transforms:
            results = t(results)
            if results is None:
                return None
        return results

    def __len__(self) -> int:
        return len(self.transforms)

    def __getitem__(self, i: int) -> Any:
        return self.transforms[i]

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"
