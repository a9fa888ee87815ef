"""EMAHook: keeps an averaged copy of the model, evaluates with it, and saves it in checkpoints."""
from __future__ import annotations

import copy
import itertools
import logging
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from seglab.registry import HOOKS, MODELS, ConfigError

from ..averaged_model import StochasticWeightAverage
from .hook import Hook
from .protocol import RunnerLike

__all__ = ["EMAHook"]

_log = logging.getLogger("seglab")


def _bare(model: nn.Module) -> nn.Module:
    """The model inside a (Distributed)DataParallel wrapper, else the model."""
    if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        return model.module
    return model


@HOOKS.register_module()
class EMAHook(Hook):
    """Averages the weights after every training iteration; validation and testing use the average.

    ``ema_type``: 'ExponentialMovingAverage' (``averaged = (1 - momentum) * averaged + momentum *
    source``), 'MomentumAnnealingEMA' (takes ``gamma``) or 'StochasticWeightAverage'. Averaging
    starts at ``begin_iter`` (or ``begin_epoch``; not both); before that the copy follows the model.
    Checkpoints hold the averaged weights in ``state_dict`` (ready for deployment) and the raw
    training weights in ``ema_state_dict`` under ``module.<key>``, as MMEngine writes them; resuming
    swaps them back.
    """

    priority = "NORMAL"

    def __init__(self, ema_type: str = "ExponentialMovingAverage", momentum: float = 0.0002,
                 update_buffers: bool = False, interval: int = 1, begin_iter: int = 0, begin_epoch: int = 0,
                 strict_load: bool = False, gamma: int | None = None, device: str | None = None) -> None:
        if begin_iter < 0 or begin_epoch < 0:
            raise ConfigError(f"EMAHook: begin_iter/begin_epoch must be >= 0, got {begin_iter}/{begin_epoch}")
        if begin_iter and begin_epoch:
            raise ConfigError("EMAHook: set begin_iter or begin_epoch, not both")
        ema_cls = MODELS.get(ema_type) if isinstance(ema_type, str) else ema_type
        self.ema_kwargs: dict[str, Any] = dict(interval=interval, update_buffers=update_buffers, device=device)
        if isinstance(ema_cls, type) and issubclass(ema_cls, StochasticWeightAverage):
            if momentum != 0.0002 or gamma is not None:
                raise ConfigError("EMAHook: ema_type='StochasticWeightAverage' takes no momentum/gamma")
        else:
            self.ema_kwargs["momentum"] = momentum
        if gamma is not None:
            if ema_type != "MomentumAnnealingEMA":
                raise ConfigError(f"EMAHook: gamma is an argument of ema_type='MomentumAnnealingEMA', not {ema_type!r}")
            self.ema_kwargs["gamma"] = gamma
        self.ema_cls = ema_cls
        self.strict_load = strict_load
        self.begin_iter = begin_iter
        self.begin_epoch = begin_epoch
        self.src_model: nn.Module | None = None
        self.ema_model: Any = None

    # ---- the averaged copy -------------------------------------------------------------------------
    def _ensure_ema(self, runner: RunnerLike) -> None:
        """Build the averaged copy of ``runner.model`` once (a load can come before ``before_run``)."""
        model = _bare(runner.model)
        if self.ema_model is None or self.src_model is not model:
            self.src_model = model
            self.ema_model = self.ema_cls(model, **self.ema_kwargs)

    def before_run(self, runner: RunnerLike) -> None:
        self._ensure_ema(runner)

    def before_train(self, runner: RunnerLike) -> None:
        if self.begin_epoch and self.begin_epoch > runner.max_epochs:
            raise ConfigError(f"EMAHook: begin_epoch={self.begin_epoch} > max_epochs={runner.max_epochs}")
        if self.begin_iter > runner.max_iters:
            raise ConfigError(f"EMAHook: begin_iter={self.begin_iter} > max_iters={runner.max_iters}")

    def _started(self, runner: RunnerLike) -> bool:
        if self.begin_epoch:
            return runner.epoch + 1 >= self.begin_epoch
        return runner.iter + 1 >= self.begin_iter

    def after_train_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None,
                         outputs: dict | None = None) -> None:
        self._ensure_ema(runner)
        if self._started(runner):
            self.ema_model.update_parameters(self.src_model)
        else:  # not averaging yet: the copy mirrors the model
            src = self.src_model.state_dict()
            with torch.no_grad():
                for key, value in self.ema_model.module.state_dict().items():
                    value.copy_(src[key])

    # ---- evaluate with the averaged weights ------------------------------------------------------
    def _pairs(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        avg, src = self.ema_model.module, self.src_model
        if self.ema_model.update_buffers:
            return zip(itertools.chain(avg.parameters(), avg.buffers()),
                       itertools.chain(src.parameters(), src.buffers()), strict=True)
        return zip(avg.parameters(), src.parameters(), strict=True)

    def _swap_parameters(self) -> None:
        """Exchange the model's weights with the averaged ones (in place, so optimizer references stay valid)."""
        if self.ema_model is None:
            return
        with torch.no_grad():
            for p_avg, p_src in self._pairs():
                tmp = p_avg.data.clone()
                p_avg.data.copy_(p_src.data)
                p_src.data.copy_(tmp)

    def before_val_epoch(self, runner: RunnerLike) -> None:
        self._swap_parameters()

    def after_val_epoch(self, runner: RunnerLike, metrics: dict | None = None) -> None:
        self._swap_parameters()

    def before_test_epoch(self, runner: RunnerLike) -> None:
        self._swap_parameters()

    def after_test_epoch(self, runner: RunnerLike, metrics: dict | None = None) -> None:
        self._swap_parameters()

    # ---- checkpoints -----------------------------------------------------------------------------
    @staticmethod
    def _swap_state_dicts(checkpoint: dict) -> None:
        """Exchange ``state_dict[k]`` with ``ema_state_dict['module.' + k]`` for every averaged key."""
        model_state, ema_state = checkpoint["state_dict"], checkpoint["ema_state_dict"]
        for key in list(ema_state):
            if key.startswith("module.") and key[7:] in model_state:
                ema_state[key], model_state[key[7:]] = model_state[key[7:]], ema_state[key]

    def before_save_checkpoint(self, runner: RunnerLike, checkpoint: dict) -> None:
        if self.ema_model is None:
            return
        checkpoint["ema_state_dict"] = {k: v.detach().cpu() for k, v in self.ema_model.state_dict().items()}
        # state_dict gets the averaged weights (what one deploys); the raw ones go to ema_state_dict.
        self._swap_state_dicts(checkpoint)

    def after_load_checkpoint(self, runner: RunnerLike, checkpoint: dict) -> None:
        self._ensure_ema(runner)
        resuming = bool(getattr(runner, "resume_from", False))
        if resuming and "ema_state_dict" in checkpoint:
            self._swap_state_dicts(checkpoint)  # state_dict: raw weights again; ema_state_dict: the average
            self.ema_model.load_state_dict(checkpoint["ema_state_dict"], strict=self.strict_load)
            # The runner may already have loaded state_dict (the averaged weights) into the model;
            # training resumes from the raw ones.
            self.src_model.load_state_dict(checkpoint["state_dict"], strict=False)
            return
        if resuming:
            _log.warning("EMAHook: the checkpoint has no ema_state_dict; the average restarts from its weights")
        state = {k.removeprefix("module."): v for k, v in checkpoint.get("state_dict", {}).items()}
        self.ema_model.module.load_state_dict(copy.deepcopy(state), strict=self.strict_load)
