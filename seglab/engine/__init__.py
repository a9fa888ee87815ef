"""Training engine: runner, loops, optimizers, schedulers, hooks, checkpoints."""
from . import hooks, loops, optim, schedulers  # noqa: F401 - registration
from .dataloader import DefaultSampler, InfiniteSampler, build_dataloader
from .hooks import Hook
from .optim import AmpOptimWrapper, OptimWrapper
from .runner import Runner

__all__ = ["AmpOptimWrapper", "DefaultSampler", "Hook", "InfiniteSampler", "OptimWrapper", "Runner", "build_dataloader"]
