"""Schedulers: closed forms at sampled iterations, torch's OneCycleLR, and MMEngine's chained values (golden)."""
import json
import math
import os

import pytest
import torch

from seglab.engine.schedulers import build_param_schedulers
from seglab.registry import PARAM_SCHEDULERS, ConfigError

REF = os.path.join(os.path.dirname(__file__), "..", "data", "engine", "scheduler_reference.json")


def _optimizer(lr: float = 0.01) -> torch.optim.Optimizer:
    p = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    return torch.optim.SGD([{"params": [p[0]]}, {"params": [p[1]], "lr": 2 * lr}], lr=lr, momentum=0.9)


def _trace(cfgs: list[dict], n: int = 100, lr: float = 0.01) -> list[list[float]]:
    """lr of each group used at iterations 0..n-1 (schedulers stepped after each iteration, as the hook does)."""
    opt = _optimizer(lr)
    scheds = build_param_schedulers(cfgs, opt)
    out = []
    for _ in range(n):
        out.append([g["lr"] for g in opt.param_groups])
        opt.step()
        for s in scheds:
            s.step()
    return out


SAMPLES = [0, 1, 2, 7, 33, 50, 98, 99]


@pytest.mark.parametrize("t", SAMPLES)
def test_poly_closed_form(t):
    lrs = _trace([dict(type="PolyLR", eta_min=1e-4, power=0.9, begin=0, end=100, by_epoch=False)])
    T = 99  # end - begin - 1: the last iteration reaches eta_min
    for base, got in zip((0.01, 0.02), lrs[t]):
        assert got == pytest.approx((base - 1e-4) * (1 - t / T) ** 0.9 + 1e-4, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("t", SAMPLES)
def test_linear_then_constant_closed_form(t):
    lrs = _trace([dict(type="LinearLR", start_factor=0.1, end_factor=1.0, begin=0, end=21, by_epoch=False)])
    factor = 0.1 + 0.9 * min(t, 20) / 20
    assert lrs[t][0] == pytest.approx(0.01 * factor, rel=1e-9)


@pytest.mark.parametrize("t", SAMPLES)
def test_cosine_closed_form(t):
    lrs = _trace([dict(type="CosineAnnealingLR", T_max=100, eta_min=1e-5, begin=0, end=100, by_epoch=False)])
    assert lrs[t][1] == pytest.approx(1e-5 + (0.02 - 1e-5) * (1 + math.cos(math.pi * t / 100)) / 2, rel=1e-9)


@pytest.mark.parametrize("t", SAMPLES)
def test_step_multistep_exponential_constant_closed_forms(t):
    assert _trace([dict(type="StepLR", step_size=7, gamma=0.5, by_epoch=False)])[t][0] == pytest.approx(0.01 * 0.5 ** (t // 7))
    got = _trace([dict(type="MultiStepLR", milestones=[2, 33, 50], gamma=0.1, by_epoch=False)])[t][0]
    assert got == pytest.approx(0.01 * 0.1 ** sum(t >= m for m in (2, 33, 50)))
    assert _trace([dict(type="ExponentialLR", gamma=0.95, by_epoch=False)])[t][0] == pytest.approx(0.01 * 0.95**t)
    got = _trace([dict(type="ConstantLR", factor=0.25, begin=0, end=34, by_epoch=False)])[t][0]
    assert got == pytest.approx(0.01 * (0.25 if t < 33 else 1.0))


def test_onecycle_matches_torch():
    ours = _trace([dict(type="OneCycleLR", eta_max=0.1, total_steps=100, pct_start=0.25, by_epoch=False)])
    opt = _optimizer()
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=100, pct_start=0.25, cycle_momentum=False)
    for t in range(100):
        assert ours[t][0] == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9), t
        opt.step()
        ref.step()


def test_scheduler_inactive_outside_begin_end():
    lrs = _trace([dict(type="ExponentialLR", gamma=0.5, begin=10, end=13, by_epoch=False)])
    assert [round(x[0] / 0.01, 6) for x in lrs[8:16]] == [1, 1, 1, 0.5, 0.25, 0.25, 0.25, 0.25]


@pytest.mark.parametrize("case", ["poly", "warmup_poly", "constant_cosine", "multistep", "step_exp", "onecycle",
                                  "poly_ratio"])
def test_chained_lists_match_mmengine(case):
    with open(REF) as f:
        ref = json.load(f)
    cfgs = [dict(type=name, **kw) for name, kw in ref["cases"][case]]
    ours = _trace(cfgs)
    for t, (got, want) in enumerate(zip(ours, ref["lrs"][case])):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-15), (case, t)


def test_state_dict_round_trip_continues_identically():
    cfg = [dict(type="LinearLR", start_factor=0.1, begin=0, end=10, by_epoch=False),
           dict(type="PolyLR", power=1.0, begin=10, end=50, by_epoch=False)]
    opt = _optimizer()
    scheds = build_param_schedulers(cfg, opt)
    for _ in range(20):
        for s in scheds:
            s.step()
    states, lr = [s.state_dict() for s in scheds], [g["lr"] for g in opt.param_groups]
    opt2 = _optimizer()
    scheds2 = build_param_schedulers(cfg, opt2)
    for s, st in zip(scheds2, states):
        s.load_state_dict(st)
    for g, v in zip(opt2.param_groups, lr):
        g["lr"] = v  # the optimizer state dict carries the lr when resuming
    for _ in range(10):
        for a, b in zip(scheds, scheds2):
            a.step()
            b.step()
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in opt2.param_groups]


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="powr"):
        build_param_schedulers([dict(type="PolyLR", powr=0.9, by_epoch=False)], _optimizer())
    with pytest.raises(ConfigError, match="end"):
        PARAM_SCHEDULERS.build(dict(type="PolyLR", begin=10, end=5), optimizer=_optimizer())
