"""Regenerate scheduler_reference.json with MMEngine (run in the MMSegmentation reference venv, not by tests).

    . /work/mmseg-ref/bin/activate && python tests/data/engine/make_scheduler_reference.py
"""
import json
import os

import torch
from mmengine.optim.scheduler import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    MultiStepLR,
    OneCycleLR,
    PolyLR,
    StepLR,
)
from mmseg.engine.schedulers import PolyLRRatio

CASES = {
    "poly": [("PolyLR", dict(eta_min=1e-4, power=0.9, begin=0, end=100, by_epoch=False))],
    "warmup_poly": [("LinearLR", dict(start_factor=1e-3, begin=0, end=15, by_epoch=False)),
                    ("PolyLR", dict(eta_min=0.0, power=1.0, begin=15, end=100, by_epoch=False))],
    "constant_cosine": [("ConstantLR", dict(factor=0.5, begin=0, end=10, by_epoch=False)),
                        ("CosineAnnealingLR", dict(T_max=90, eta_min=1e-5, begin=10, end=100, by_epoch=False))],
    "multistep": [("MultiStepLR", dict(milestones=[30, 60, 60], gamma=0.5, begin=5, end=100, by_epoch=False))],
    "step_exp": [("StepLR", dict(step_size=7, gamma=0.7, begin=0, end=50, by_epoch=False)),
                 ("ExponentialLR", dict(gamma=0.97, begin=50, end=100, by_epoch=False))],
    "onecycle": [("OneCycleLR", dict(eta_max=0.1, total_steps=100, pct_start=0.25, by_epoch=False))],
    "poly_ratio": [("PolyLRRatio", dict(eta_min_ratio=0.1, power=1.0, begin=0, end=100, by_epoch=False))],
}
CLASSES = dict(ConstantLR=ConstantLR, CosineAnnealingLR=CosineAnnealingLR, ExponentialLR=ExponentialLR,
               LinearLR=LinearLR, MultiStepLR=MultiStepLR, OneCycleLR=OneCycleLR, PolyLR=PolyLR, StepLR=StepLR,
               PolyLRRatio=PolyLRRatio)


def run(case):
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD([{"params": [params[0]]}, {"params": [params[1]], "lr": 0.02}], lr=0.01, momentum=0.9)
    scheds = [CLASSES[name](optimizer=opt, **kw) for name, kw in case]
    lrs = []
    for _ in range(100):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        for s in scheds:
            s.step()
    return lrs


out = {"cases": {k: [[n, kw] for n, kw in v] for k, v in CASES.items()},
       "lrs": {k: run(v) for k, v in CASES.items()}}
with open(os.path.join(os.path.dirname(__file__), "scheduler_reference.json"), "w") as f:
    json.dump(out, f)
