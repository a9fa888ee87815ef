"""What a training checkpoint holds beyond the weights, and how a resumed run gets it back.

Saved: weights, optimizer (incl. grad scaler), schedulers, iteration/epoch, RNG states of every
library, the sampler's seed and position, the logged-value history and JSON-safe meta (classes,
palette, config text, versions) — enough for a resumed run to follow the uninterrupted trajectory.
The checkpoint is the union of the parts' own ``state_dict()``s; this module knows no runner.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from torch import nn

import seglab

from .runtime import get_rng_state

if TYPE_CHECKING:
    from .logging import MessageHub
    from .loops import BaseTrainLoop
    from .optim import OptimWrapper
    from .schedulers import ParamScheduler

__all__ = ["json_safe", "restore_training_state", "training_state"]


def json_safe(value: Any) -> Any:
    """A copy of ``value`` made of JSON types (tuples become lists; others their str)."""
    return json.loads(json.dumps(value, default=str))


def training_state(model: nn.Module, loop: BaseTrainLoop | None = None, optim_wrapper: OptimWrapper | None = None,
                   param_schedulers: Sequence[ParamScheduler] = (), message_hub: MessageHub | None = None,
                   meta: dict | None = None) -> dict[str, Any]:
    """The checkpoint dict of these parts at this point of training (tensors on the CPU).

    ``model`` is the bare model (not a DDP wrapper); pass ``optim_wrapper=None`` / no schedulers to
    leave them out. ``meta`` entries override the defaults (iteration and epoch from ``loop``).
    """
    progress = loop.state_dict() if loop is not None else {"iter": 0, "epoch": 0}
    meta_all = dict(seglab_version=seglab.__version__, iter=progress["iter"], epoch=progress["epoch"],
                    time=time.strftime("%Y-%m-%d %H:%M:%S"))
    meta_all.update(meta or {})
    checkpoint: dict[str, Any] = dict(
        meta=json_safe(meta_all),
        state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
        message_hub=json_safe(message_hub.state_dict() if message_hub is not None else {}),
        rng=get_rng_state(),
    )
    sampler = loop.sampler_state_dict() if loop is not None else None
    if sampler is not None:  # where the (per-rank) sample stream continues
        checkpoint["sampler"] = sampler
    if optim_wrapper is not None:
        checkpoint["optimizer"] = optim_wrapper.state_dict()
    if param_schedulers:
        checkpoint["param_schedulers"] = [s.state_dict() for s in param_schedulers]
    return checkpoint


def restore_training_state(checkpoint: dict[str, Any], model: nn.Module, loop: BaseTrainLoop,
                           optim_wrapper: OptimWrapper | None = None, param_schedulers: Sequence[ParamScheduler] = (),
                           message_hub: MessageHub | None = None) -> None:
    """Load weights, optimizer, schedulers, loop progress, sampler seed and logged values from ``checkpoint``.

    The RNG states wait in the loop (``defer_rng_state``) until its data iterator has drawn its
    own seed, so the resumed stream continues where it stopped.
    """
    model.load_state_dict(checkpoint["state_dict"], strict=True)
    if "optimizer" in checkpoint and optim_wrapper is not None:
        optim_wrapper.load_state_dict(checkpoint["optimizer"])
    for scheduler, state in zip(param_schedulers, checkpoint.get("param_schedulers", [])):
        scheduler.load_state_dict(state)
    meta = checkpoint.get("meta", {})
    loop.load_state_dict({"iter": meta.get("iter", 0), "epoch": meta.get("epoch", 0)})
    loop.load_sampler_state_dict(checkpoint.get("sampler"))
    loop.defer_rng_state(checkpoint.get("rng"))
    if message_hub is not None:
        message_hub.load_state_dict(checkpoint.get("message_hub", {}))
