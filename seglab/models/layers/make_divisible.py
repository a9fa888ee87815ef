"""Channel rounding used by MobileNet-style width multipliers."""
from __future__ import annotations

__all__ = ["make_divisible"]


def make_divisible(value: float, divisor: int, min_value: int | None = None, min_ratio: float = 0.9) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``min_value``, default ``divisor``),
    going one ``divisor`` up if rounding lost more than ``1 - min_ratio`` of ``value``."""
    if min_value is None:
        min_value = divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < min_ratio * value:
        new_value += divisor
    return new_value
