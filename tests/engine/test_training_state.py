"""Checkpoint state assembled from the parts (model, optim wrapper, schedulers, loop, sampler, RNG, hub)."""
from __future__ import annotations

import io
import subprocess
import sys

import torch
from _engine_tiny import subprocess_env
from torch import nn
from torch.utils.data import DataLoader

from seglab.engine import InfiniteSampler, OptimWrapper
from seglab.engine.logging import MessageHub
from seglab.engine.loops import IterBasedTrainLoop
from seglab.engine.schedulers import build_param_schedulers
from seglab.engine.training_state import restore_training_state, training_state


class Regression(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Linear(1, 1)

    def train_step(self, data: torch.Tensor, optim_wrapper) -> dict:
        loss = ((self.w(data) - 2 * data) ** 2).mean()
        optim_wrapper.update_params(loss)
        return {"loss": loss.detach()}


def _parts(seed: int = 0):
    torch.manual_seed(seed)
    model = Regression()
    data = torch.linspace(-1, 1, 8).reshape(8, 1)
    loader = DataLoader(data, batch_size=2, sampler=InfiniteSampler(data, seed=seed))
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    schedulers = build_param_schedulers([dict(type="PolyLR", eta_min=0.0, power=1.0, end=6, by_epoch=False)], wrapper)
    hub = MessageHub()

    def call_hook(name, **kwargs):
        if name == "after_train_iter":
            hub.update_scalar("train/loss", kwargs["outputs"]["loss"])
            for s in schedulers:
                s.step()

    loop = IterBasedTrainLoop(model, loader, wrapper, call_hook, max_iters=6)
    return model, loop, wrapper, schedulers, hub


def test_state_round_trip_resumes_bit_exactly():
    full = _parts()
    full[1].run()
    half = _parts()
    half[1].max_iters = 3
    half[1].run()
    model, loop, wrapper, schedulers, hub = half
    state = training_state(model, loop, wrapper, schedulers, hub, meta=dict(note="x"))
    assert state["meta"]["iter"] == 3 and state["meta"]["note"] == "x"
    assert state["sampler"]["position"] == 6 and state["optimizer"]["state"]  # momentum buffers
    buffer = io.BytesIO()
    torch.save(state, buffer)  # what reaches the disk must load with weights_only
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)

    resumed = _parts(seed=1)  # other initial weights and sampler seed: everything must come from the state
    restore_training_state(state, resumed[0], resumed[1], resumed[2], resumed[3], resumed[4])
    assert resumed[1].iter == 3 and resumed[1].sampler.seed == 0
    assert resumed[4].scalars["train/loss"] == hub.scalars["train/loss"]
    resumed[1].run()
    assert resumed[1].iter == 6
    for key, value in full[0].state_dict().items():
        assert torch.equal(value, resumed[0].state_dict()[key]), key
    assert resumed[2].get_lr() == full[2].get_lr()
    assert resumed[4].scalars["train/loss"] == full[4].scalars["train/loss"]


def test_optimizer_and_schedulers_can_be_left_out():
    model, loop, *_ = _parts()
    state = training_state(model, loop)
    assert {"meta", "state_dict", "message_hub", "rng", "sampler"} == set(state)
    assert training_state(model)["meta"]["iter"] == 0  # no loop yet: nothing trained


def test_training_state_does_not_import_the_runner():
    code = ("import sys, seglab.engine.training_state, seglab.engine.loops, seglab.engine.hooks\n"
            "print('seglab.engine.runner' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "False", out.stderr
