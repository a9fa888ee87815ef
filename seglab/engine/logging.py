"""Run logging: the ``seglab`` logger (console + file) and a message hub of scalar histories."""
from __future__ import annotations

import logging
import sys
from collections import defaultdict
from typing import Any

__all__ = ["MessageHub", "setup_logger"]


def setup_logger(log_file: str | None = None, log_level: str | int = "INFO") -> logging.Logger:
    """Configure the ``seglab`` logger: one console handler, and a file handler for ``log_file``."""
    logger = logging.getLogger("seglab")
    level = logging.getLevelName(log_level.upper()) if isinstance(log_level, str) else log_level
    if not isinstance(level, int):
        raise TypeError(f"log_level must be DEBUG/INFO/WARNING/ERROR, got {log_level!r}")
    logger.setLevel(level)
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s - seglab - %(levelname)s - %(message)s", "%m/%d %H:%M:%S")
    # Replace our own handlers from an earlier run in this process (tests, notebooks).
    for handler in list(logger.handlers):
        if getattr(handler, "_seglab", False):
            logger.removeHandler(handler)
            handler.close()
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(fmt)
    console._seglab = True  # type: ignore[attr-defined]
    logger.addHandler(console)
    if log_file:
        file_handler = logging.FileHandler(log_file, mode="a", encoding="utf-8")
        file_handler.setFormatter(fmt)
        file_handler._seglab = True  # type: ignore[attr-defined]
        logger.addHandler(file_handler)
    return logger


class MessageHub:
    """Scalar histories (``update_scalar('train/loss', v)``) and runtime info shared between hooks."""

    def __init__(self) -> None:
        self.scalars: dict[str, list[float]] = defaultdict(list)
        self.runtime_info: dict[str, Any] = {}

    def update_scalar(self, key: str, value: float) -> None:
        """Append a value to the history of ``key``."""
        self.scalars[key].append(float(value))

    def mean(self, key: str, window: int | None = None) -> float | None:
        """Mean of the last ``window`` values of ``key`` (all when None); None without values."""
        values = self.scalars.get(key) or []
        values = values[-window:] if window else values
        return sum(values) / len(values) if values else None

    def latest(self, key: str) -> float | None:
        """The last value of ``key``."""
        values = self.scalars.get(key)
        return values[-1] if values else None

    def update_info(self, key: str, value: Any) -> None:
        """Set a runtime-info entry (e.g. ``best_score``)."""
        self.runtime_info[key] = value

    def get_info(self, key: str, default: Any = None) -> Any:
        """A runtime-info entry."""
        return self.runtime_info.get(key, default)

    def state_dict(self, history: int = 1000) -> dict:
        """JSON-safe state: runtime info and the last ``history`` values of each scalar.

        The histories let a resumed run average its first log interval over the same iterations
        as an uninterrupted run, even when the checkpoint fell inside an interval.
        """
        return {"runtime_info": dict(self.runtime_info),
                "scalars": {k: list(v[-history:]) for k, v in self.scalars.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Restore runtime info and scalar histories."""
        self.runtime_info.update(state.get("runtime_info", {}))
        for key, values in state.get("scalars", {}).items():
            self.scalars[key] = [float(v) for v in values]
