"""What the converters share: one error for keys that do not belong to the upstream layout."""
from __future__ import annotations

__all__ = ["reject_unknown"]


def reject_unknown(unknown: list[str], family: str, hint: str = "") -> None:
    """Raise a KeyError naming (up to 10 of) ``unknown`` keys, not part of an upstream ``family`` checkpoint."""
    if unknown:
        more = f" (+{len(unknown) - 10} more)" if len(unknown) > 10 else ""
        raise KeyError(f"keys that are not part of an upstream {family} checkpoint: {unknown[:10]}{more}{hint}")
