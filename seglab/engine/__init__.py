"""Training engine: runner, loops, optimizers, schedulers, hooks, checkpoints."""
from typing import Any

from . import hooks, loops, optim, schedulers  # noqa: F401 - registration
from .dataloader import DefaultSampler, InfiniteSampler, build_dataloader
from .hooks import Hook
from .optim import AmpOptimWrapper, OptimWrapper

__all__ = ["AmpOptimWrapper", "DefaultSampler", "Hook", "InfiniteSampler", "OptimWrapper", "Runner", "build_dataloader"]


def __getattr__(name: str) -> Any:
    # The runner is imported on first use, so its parts (loops, training_state, hooks) load without it.
    if name == "Runner":
        from .runner import Runner

        return Runner
    raise AttributeError(f"module 'seglab.engine' has no attribute {name!r}")
