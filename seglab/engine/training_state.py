"""What a training checkpoint holds beyond the weights, and how a resumed run gets it back.

Saved: weights, optimizer (incl. grad scaler), schedulers, iteration/epoch, RNG states of every
library, the sampler's seed and position, the logged-value history and JSON-safe meta (classes,
palette, config text, versions) — enough for a resumed run to follow the uninterrupted trajectory.
"""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import seglab

from .runtime import get_rng_state

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["json_safe", "restore_training_state", "training_state"]


def json_safe(value: Any) -> Any:
    """A copy of ``value`` made of JSON types (tuples become lists; others their str)."""
    return json.loads(json.dumps(value, default=str))


def training_state(runner: Runner, save_optimizer: bool = True, save_param_scheduler: bool = True,
                   meta: dict | None = None) -> dict[str, Any]:
    """The checkpoint dict of ``runner`` at this point of training (tensors on the CPU)."""
    meta_all = dict(
        seglab_version=seglab.__version__, iter=runner.iter + int(runner.iter_finished), epoch=runner.epoch,
        seed=runner.seed, experiment_name=runner.experiment_name, time=time.strftime("%Y-%m-%d %H:%M:%S"),
        dataset_meta=runner.dataset_meta,
        cfg=getattr(runner.cfg, "pretty_text", None) if runner.cfg is not None else None,
    )
    meta_all.update(meta or {})
    model = runner._bare_model()
    checkpoint: dict[str, Any] = dict(
        meta=json_safe(meta_all),
        state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
        message_hub=json_safe(runner.message_hub.state_dict()),
        rng=get_rng_state(),
    )
    sampler = runner._train_sampler()
    if sampler is not None:  # where the (per-rank) sample stream continues
        batch = runner._train_loop.dataloader.batch_size or 1
        checkpoint["sampler"] = dict(type=type(sampler).__name__, seed=int(getattr(sampler, "seed", 0)),
                                     position=int(meta_all["iter"]) * batch, batch_size=batch,
                                     world_size=runner.world_size)
    if save_optimizer and runner.optim_wrapper is not None:
        checkpoint["optimizer"] = runner.optim_wrapper.state_dict()
    if save_param_scheduler and runner.param_schedulers:
        checkpoint["param_schedulers"] = [s.state_dict() for s in runner.param_schedulers]
    return checkpoint


def restore_training_state(runner: Runner, checkpoint: dict[str, Any]) -> None:
    """Load weights, optimizer, schedulers, counters and sampler seed; RNG states are applied later.

    The RNG states wait in ``runner._rng_to_restore`` until the data iterator has drawn its own
    seed (``Runner.restore_rng_after_loader``), so the resumed stream continues where it stopped.
    """
    runner._bare_model().load_state_dict(checkpoint["state_dict"], strict=True)
    if "optimizer" in checkpoint and runner.optim_wrapper is not None:
        runner.optim_wrapper.load_state_dict(checkpoint["optimizer"])
    for scheduler, state in zip(runner.param_schedulers, checkpoint.get("param_schedulers", [])):
        scheduler.load_state_dict(state)
    meta = checkpoint.get("meta", {})
    sampler, sampler_state = runner._train_sampler(), checkpoint.get("sampler")
    if sampler is not None and sampler_state and hasattr(sampler, "seed"):
        sampler.seed = int(sampler_state["seed"])  # the same global order even if the run's seed was random
    runner.train_loop.iter = int(meta.get("iter", 0))
    runner.train_loop.epoch = int(meta.get("epoch", 0))
    runner.message_hub.load_state_dict(checkpoint.get("message_hub", {}))
    runner._rng_to_restore = checkpoint.get("rng")
