"""The fused optimizer default gives the numbers of torch's plain per-parameter loop, and is switchable."""
import copy

import pytest
import torch
from torch import nn

from seglab.engine.optim import AmpOptimWrapper, build_optim_wrapper
from seglab.engine.optim.fast_paths import fast_optimizer_cfg

PLAIN = dict(fused=False, foreach=False)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        # No bias before the BN: its gradient is zero up to rounding, which Adam would blow up to lr-sized steps.
        self.backbone = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
                                      nn.Conv2d(6, 6, 3, padding=1, groups=6))
        self.head = nn.Conv2d(6, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def _train(cfg: dict, steps: int, model: nn.Module | None = None, wrapper=None, seed: int = 1):
    if model is None:
        torch.manual_seed(0)
        model = Net()
    wrapper = wrapper or build_optim_wrapper(model, copy.deepcopy(cfg))
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(2, 3, 8, 8, generator=g)
        with wrapper.optim_context(model):
            loss = (model(x) - 0.5).square().mean()
        wrapper.update_params(loss)
    return model, wrapper


def _with_plain(cfg: dict) -> dict:
    return dict(cfg, optimizer=dict(cfg["optimizer"], **PLAIN))


def _assert_same_params(a: nn.Module, b: nn.Module) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")


SGD_NESTEROV = dict(type="SGD", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
CASES = {
    "sgd_momentum_wd": dict(optimizer=dict(type="SGD", lr=0.05, momentum=0.9, weight_decay=5e-4)),
    "sgd_nesterov": dict(optimizer=SGD_NESTEROV),
    "adamw": dict(optimizer=dict(type="AdamW", lr=0.01, betas=(0.9, 0.999), weight_decay=0.01)),
    "adam_amsgrad": dict(optimizer=dict(type="Adam", lr=0.01, weight_decay=1e-4, amsgrad=True)),
    "paramwise": dict(optimizer=dict(type="AdamW", lr=0.01, weight_decay=0.05),
                      paramwise_cfg=dict(custom_keys={"head": dict(lr_mult=10.0, decay_mult=0.0)},
                                         norm_decay_mult=0.0, bias_lr_mult=2.0)),
    "clip_grad": dict(optimizer=SGD_NESTEROV, clip_grad=dict(max_norm=0.1, norm_type=2)),
    "accumulate": dict(optimizer=dict(type="Adam", lr=0.01), accumulative_counts=2),
}


@pytest.mark.parametrize("optimizer", ["SGD", "Adam", "AdamW", "Adagrad"])
def test_fused_is_the_default_where_torch_has_the_kernel(optimizer):
    _, w = _train(dict(optimizer=dict(type=optimizer, lr=0.01)), 0)
    assert all(g["fused"] is True for g in w.optimizer.param_groups)
    assert all(not g["foreach"] for g in w.optimizer.param_groups)


def test_the_config_keeps_its_own_choice():
    _, w = _train(dict(optimizer=dict(type="SGD", lr=0.01, fused=False)), 0)
    assert w.optimizer.param_groups[0]["fused"] is False and w.optimizer.param_groups[0]["foreach"] is None
    _, w = _train(dict(optimizer=dict(type="AdamW", lr=0.01, foreach=True)), 0)
    assert w.optimizer.param_groups[0]["foreach"] is True and not w.optimizer.param_groups[0]["fused"]
    _, w = _train(dict(optimizer=dict(type="RMSprop", lr=0.01)), 0)  # no fused kernel in torch: untouched
    assert "fused" not in w.optimizer.param_groups[0] and w.optimizer.param_groups[0]["foreach"] is None


def test_no_fused_default_for_params_without_a_kernel():
    params = [nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(2, dtype=torch.float64))]
    assert fast_optimizer_cfg(dict(type="SGD", lr=0.1, params=params), torch.optim.SGD)["fused"] is True
    meta = [nn.Parameter(torch.zeros(3, device="meta"))]
    assert "fused" not in fast_optimizer_cfg(dict(type="SGD", lr=0.1, params=meta), torch.optim.SGD)
    assert "fused" not in fast_optimizer_cfg(dict(type="SGD", lr=0.1, params=params, differentiable=True),
                                             torch.optim.SGD)
    groups = [dict(params=params[:1], lr=0.2), dict(params=params[1:])]  # param-group dicts are looked into
    assert fast_optimizer_cfg(dict(type="Adam", params=groups), torch.optim.Adam)["fused"] is True


@pytest.mark.parametrize("case", list(CASES))
def test_fused_default_trains_like_the_plain_loop(case, single_thread):
    cfg = CASES[case]
    fast, w_fast = _train(cfg, 5)
    plain, w_plain = _train(_with_plain(cfg), 5)
    assert w_fast.optimizer.param_groups[0]["fused"] is True and w_plain.optimizer.param_groups[0]["fused"] is False
    _assert_same_params(fast, plain)
    if case == "clip_grad":
        assert w_fast.last_grad_norm == pytest.approx(w_plain.last_grad_norm, rel=1e-5)
    if case == "paramwise":
        assert len(w_fast.optimizer.param_groups) == len(list(fast.parameters()))


def test_gradients_are_released_after_each_step():
    model, _ = _train(CASES["adamw"], 1)
    assert all(p.grad is None for p in model.parameters())  # zero_grad(set_to_none=True)


@pytest.mark.parametrize("name", ["sgd_nesterov", "adamw"])
def test_fp16_grad_scaler_with_the_fused_kernel(name, single_thread):
    """GradScaler hands the fused step its found-inf flag; the result equals the plain loop's, a skipped step too."""
    cfg = dict(CASES[name], type="AmpOptimWrapper", dtype="float16", loss_scale=dict(init_scale=2.0**8))
    runs = {}
    for kind, c in (("fast", cfg), ("plain", _with_plain(cfg))):
        model, w = _train(c, 3)
        assert isinstance(w, AmpOptimWrapper) and w._scaler is not None
        before = [p.detach().clone() for p in model.parameters()]
        x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(7))
        with w.optim_context(model):
            loss = model(x).float().sum() * float("inf")  # every gradient inf/NaN: the scaler skips this step
        w.update_params(loss)
        assert all(torch.equal(a, p) for a, p in zip(before, model.parameters())), kind
        assert w._scaler.get_scale() == 2.0**7  # the scale backs off after the skipped step
        _train(c, 2, model, w, seed=3)
        runs[kind] = model
    _assert_same_params(runs["fast"], runs["plain"])


@pytest.mark.parametrize("name", ["sgd_nesterov", "adam_amsgrad"])
def test_resume_across_implementations(name, single_thread, tmp_path):
    """Optimizer state of the fused run loads into a plain one and back; each keeps its own implementation."""
    cfg = CASES[name]
    reference, _ = _train(_with_plain(cfg), 5)
    for first, second in ((cfg, _with_plain(cfg)), (_with_plain(cfg), cfg)):
        model, w = _train(first, 3)
        path = tmp_path / "ckpt.pth"
        torch.save(dict(state_dict=model.state_dict(), optimizer=w.state_dict()), path)
        ckpt = torch.load(path, weights_only=True)
        torch.manual_seed(0)
        resumed = Net()
        resumed.load_state_dict(ckpt["state_dict"])
        w2 = build_optim_wrapper(resumed, copy.deepcopy(second))
        w2.load_state_dict(ckpt["optimizer"])
        assert w2.optimizer.param_groups[0]["fused"] is second["optimizer"].get("fused", True)
        g = torch.Generator().manual_seed(1)
        for _ in range(3):  # the first 3 batches of the stream were used before the checkpoint
            torch.randn(2, 3, 8, 8, generator=g)
        for _ in range(2):
            loss = (resumed(torch.randn(2, 3, 8, 8, generator=g)) - 0.5).square().mean()
            w2.update_params(loss)
        _assert_same_params(resumed, reference)


@pytest.mark.parametrize("amp", [False, True])
def test_fused_step_bumps_parameter_versions(amp):
    """Fused kernels write parameters without bumping version counters; the wrapper bumps them, so caches
    keyed on versions (BatchNorm fold, Winograd filters) see every step."""
    model = nn.Linear(4, 3)
    cfg = dict(type="AmpOptimWrapper", dtype="bfloat16") if amp else dict(type="OptimWrapper")
    wrapper = build_optim_wrapper(model, dict(cfg, optimizer=dict(type="SGD", lr=0.1)))
    assert wrapper.optimizer.param_groups[0].get("fused")
    before = [p._version for p in model.parameters()]
    model(torch.randn(2, 4)).sum().backward()
    wrapper.step()
    assert all(p._version > v for p, v in zip(model.parameters(), before))
