"""OptimWrapper (backward, gradient clipping/accumulation, step) and AmpOptimWrapper (autocast + loss scaling)."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from seglab.registry import OPTIM_WRAPPERS, ConfigError
from seglab.unused_arguments import warn_unused

from .fast_paths import IMPLEMENTATION_KEYS

__all__ = ["AmpOptimWrapper", "OptimWrapper"]

_log = logging.getLogger("seglab")


@OPTIM_WRAPPERS.register_module()
class OptimWrapper:
    """Wraps an optimizer: ``update_params(loss)`` = backward, and every ``accumulative_counts`` calls clip + step + zero_grad.

    ``clip_grad``: None, ``dict(max_norm=..., norm_type=2)`` (by norm, the default ``type='norm'``)
    or ``dict(type='value', clip_value=...)``.
    """

    def __init__(self, optimizer: Optimizer, clip_grad: dict | None = None, accumulative_counts: int = 1) -> None:
        if accumulative_counts < 1:
            raise ConfigError(f"optim_wrapper.accumulative_counts must be >= 1, got {accumulative_counts}")
        self.optimizer = optimizer
        self.accumulative_counts = int(accumulative_counts)
        self.clip_grad = dict(clip_grad) if clip_grad else None
        if self.clip_grad is not None:
            kind = self.clip_grad.pop("type", "norm")
            if kind == "norm":
                unknown = set(self.clip_grad) - {"max_norm", "norm_type", "error_if_nonfinite"}
                self._clip = lambda params: nn.utils.clip_grad_norm_(params, **self.clip_grad)
            elif kind == "value":
                unknown = set(self.clip_grad) - {"clip_value"}
                self._clip = lambda params: nn.utils.clip_grad_value_(params, **self.clip_grad)
            else:
                raise ConfigError(f"optim_wrapper.clip_grad.type must be 'norm' or 'value', got {kind!r}")
            if unknown:
                raise ConfigError(f"optim_wrapper.clip_grad: unexpected key(s) {sorted(unknown)} for type '{kind}'")
        self._inner_count = 0  # update_params calls so far
        self._max_counts = -1  # total update_params calls planned (for the last, partial accumulation)
        self.last_grad_norm: float | None = None

    # ---- the training step -------------------------------------------------------------------
    def update_params(self, loss: torch.Tensor, step_kwargs: dict | None = None, zero_kwargs: dict | None = None) -> None:
        """Backward ``loss`` (scaled for accumulation); step and zero the grads when an accumulation completes."""
        loss = self.scale_loss(loss)
        self.backward(loss)
        if self.should_update():
            self.step(**(step_kwargs or {}))
            self.zero_grad(**(zero_kwargs or {}))

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """Divide the loss by the number of accumulated iterations (fewer in a trailing partial group)."""
        if self.accumulative_counts == 1:
            return loss
        remainder_start = self._max_counts - self._max_counts % self.accumulative_counts if self._max_counts > 0 else -1
        if self._max_counts > 0 and self._inner_count >= remainder_start:
            return loss / max(self._max_counts - remainder_start, 1)
        return loss / self.accumulative_counts

    def should_update(self) -> bool:
        """Whether this call completes an accumulation group (counts the call)."""
        self._inner_count += 1
        return self._inner_count % self.accumulative_counts == 0 or self._inner_count == self._max_counts

    def initialize_count_status(self, model: nn.Module | None, init_counts: int, max_counts: int) -> None:
        """Tell the wrapper where training starts and ends (for resume and the last partial accumulation)."""
        self._inner_count = int(init_counts)
        self._max_counts = int(max_counts)

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        """``loss.backward()``."""
        loss.backward(**kwargs)

    def _params(self) -> Iterator[torch.Tensor]:
        for group in self.optimizer.param_groups:
            yield from (p for p in group["params"] if p.grad is not None)

    def step(self, **kwargs: Any) -> None:
        """Clip gradients (if configured) and step the optimizer."""
        if self.clip_grad is not None:
            params = list(self._params())
            if params:
                norm = self._clip(params)
                self.last_grad_norm = float(norm) if norm is not None else None
        self.optimizer.step(**kwargs)
        self._mark_updated()

    def _mark_updated(self) -> None:
        """Bump the version counters of the parameters a fused kernel wrote.

        torch's fused optimizers update parameters without bumping their version counters, and the
        eval-time caches keyed on them (the BatchNorm fold, Winograd filters) must see every step.
        """
        for group in self.optimizer.param_groups:
            if group.get("fused"):
                for p in group["params"]:
                    if p.grad is not None:
                        torch.autograd.graph.increment_version(p)

    def zero_grad(self, **kwargs: Any) -> None:
        """Zero the gradients."""
        self.optimizer.zero_grad(**kwargs)

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """Context for the forward pass (no-op here; autocast in AmpOptimWrapper)."""
        yield

    # ---- state and introspection -------------------------------------------------------------
    @property
    def param_groups(self) -> list[dict]:
        """The optimizer's param groups."""
        return self.optimizer.param_groups

    def get_lr(self) -> dict[str, list[float]]:
        """``{'lr': [lr of each group]}``."""
        return {"lr": [g["lr"] for g in self.optimizer.param_groups]}

    def get_momentum(self) -> dict[str, list[float]]:
        """``{'momentum': [...]}`` (Adam's beta1 where there is no momentum)."""
        out = []
        for g in self.optimizer.param_groups:
            out.append(g["momentum"] if "momentum" in g else g.get("betas", (0.0,))[0])
        return {"momentum": out}

    def state_dict(self) -> dict:
        """The optimizer's state dict."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Load the optimizer's state dict; the implementation (``fused``/``foreach``) stays the one built.

        torch copies every saved group option, so a checkpoint written with the fused kernels would
        otherwise switch a run configured with ``fused=False`` to them (and an older one back to the loop).
        """
        groups = state.get("param_groups") if isinstance(state, dict) else None
        if isinstance(groups, list) and len(groups) == len(self.optimizer.param_groups):
            state = dict(state, param_groups=[
                dict(saved, **{k: own[k] for k in IMPLEMENTATION_KEYS if k in own})
                for saved, own in zip(groups, self.optimizer.param_groups)])
        self.optimizer.load_state_dict(state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(optimizer={self.optimizer!r}, clip_grad={self.clip_grad}, accumulative_counts={self.accumulative_counts})"


@OPTIM_WRAPPERS.register_module()
class AmpOptimWrapper(OptimWrapper):
    """Mixed precision: forward under ``torch.autocast(dtype)``, loss scaling for float16 (on CUDA).

    ``loss_scale``: 'dynamic' (a GradScaler), a number (static scale) or a dict of GradScaler args.
    bfloat16 needs no scaling; on CPU autocast uses bfloat16 unless float16 is asked for explicitly.
    """

    def __init__(self, optimizer: Optimizer, loss_scale: str | float | dict = "dynamic", dtype: str | torch.dtype | None = None,
                 use_fsdp: bool = False, clip_grad: dict | None = None, accumulative_counts: int = 1) -> None:
        super().__init__(optimizer, clip_grad=clip_grad, accumulative_counts=accumulative_counts)
        warn_unused("AmpOptimWrapper", use_fsdp=use_fsdp)
        names = {"float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
                 "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
        if isinstance(dtype, str):
            if dtype not in names:
                raise ConfigError(f"AmpOptimWrapper: dtype must be one of {sorted(names)}, got {dtype!r}")
            dtype = names[dtype]
        self.cast_dtype = dtype
        self.loss_scale = loss_scale
        self._scaler: torch.amp.GradScaler | None = None
        self._static_scale: float | None = None

    def _device_type(self) -> str:
        for p in self._all_params():
            return p.device.type
        return "cpu"

    def _all_params(self) -> Iterator[torch.Tensor]:
        for group in self.optimizer.param_groups:
            yield from group["params"]

    def _dtype(self) -> torch.dtype:
        if self.cast_dtype is not None:
            return self.cast_dtype
        return torch.float16 if self._device_type() == "cuda" else torch.bfloat16

    def _ensure_scaler(self) -> None:
        # Scaling only matters for float16 (narrow exponent); bfloat16 has float32's range.
        if self._scaler is not None or self._static_scale is not None or self._dtype() != torch.float16:
            return
        if isinstance(self.loss_scale, (int, float)) and not isinstance(self.loss_scale, bool):
            self._static_scale = float(self.loss_scale)
        else:
            kwargs = dict(self.loss_scale) if isinstance(self.loss_scale, dict) else {}
            if not (isinstance(self.loss_scale, dict) or self.loss_scale == "dynamic"):
                raise ConfigError(f"AmpOptimWrapper: loss_scale must be 'dynamic', a number or a dict, got {self.loss_scale!r}")
            self._scaler = torch.amp.GradScaler(self._device_type(), **kwargs)

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """Autocast the forward pass."""
        with torch.autocast(device_type=self._device_type(), dtype=self._dtype()):
            yield

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        """Backward the (scaled) loss."""
        self._ensure_scaler()
        if self._scaler is not None:
            loss = self._scaler.scale(loss)
        elif self._static_scale is not None:
            loss = loss * self._static_scale
        loss.backward(**kwargs)

    def step(self, **kwargs: Any) -> None:
        """Unscale, clip, step (skipped by the scaler on inf/NaN gradients), update the scale."""
        if self._scaler is not None:
            self._scaler.unscale_(self.optimizer)
        elif self._static_scale is not None:
            for p in self._params():
                p.grad.div_(self._static_scale)
        if self.clip_grad is not None:
            params = list(self._params())
            if params:
                self.last_grad_norm = float(self._clip(params))
        if self._scaler is not None:
            self._scaler.step(self.optimizer, **kwargs)
            self._scaler.update()
        else:
            self.optimizer.step(**kwargs)
        self._mark_updated()

    def state_dict(self) -> dict:
        """Optimizer state plus the loss scaler's state under ``loss_scaler``."""
        state = self.optimizer.state_dict()
        if self._scaler is not None:
            state["loss_scaler"] = self._scaler.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Load optimizer and loss-scaler state."""
        state = dict(state)
        scaler_state = state.pop("loss_scaler", None)
        if scaler_state is not None:
            self._ensure_scaler()
            if self._scaler is not None:
                self._scaler.load_state_dict(scaler_state)
        super().load_state_dict(state)
