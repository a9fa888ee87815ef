"""The runner as hooks see it: the attributes and methods hooks read, call or set (a typing Protocol)."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from torch import nn
from torch.utils.data import DataLoader

if TYPE_CHECKING:
    from ..logging import MessageHub
    from ..optim import OptimWrapper
    from ..schedulers import ParamScheduler
    from .hook import Hook

__all__ = ["RunnerLike"]


class RunnerLike(Protocol):
    """What a hook may use of the runner; ``seglab.engine.Runner`` provides all of it.

    Progress (``iter``, ``epoch``) counts finished iterations/epochs: inside ``after_train_iter``
    the current step is done but not yet counted, so ``iter + 1`` is the step just taken.
    """

    rank: int
    world_size: int
    work_dir: str
    logger: logging.Logger
    message_hub: MessageHub
    visualizer: Any  # a SegLocalVisualizer on rank 0, None elsewhere
    should_stop: bool  # set by a hook to end training after the current iteration
    resume_from: bool | str
    hooks: list[Hook]

    @property
    def model(self) -> nn.Module: ...  # the (possibly DDP-wrapped) model
    @property
    def iter(self) -> int: ...
    @property
    def epoch(self) -> int: ...
    @property
    def max_iters(self) -> int: ...
    @property
    def max_epochs(self) -> int: ...
    @property
    def optim_wrapper(self) -> OptimWrapper | None: ...
    @property
    def param_schedulers(self) -> list[ParamScheduler]: ...
    @property
    def train_dataloader(self) -> DataLoader: ...
    @property
    def val_dataloader(self) -> DataLoader: ...
    @property
    def test_dataloader(self) -> DataLoader: ...

    def save_checkpoint(self, out_dir: str, filename: str, save_optimizer: bool = True,
                        save_param_scheduler: bool = True, meta: dict | None = None,
                        update_pointer: bool = True) -> str:
        """Write a checkpoint of the current training state to ``out_dir/filename``."""
        ...
