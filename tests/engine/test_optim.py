"""Optimizer construction (paramwise lr/decay), gradient clipping, accumulation and AMP wrappers."""
import warnings

import pytest
import torch
from torch import nn

from seglab.engine.optim import AmpOptimWrapper, OptimWrapper, build_optim_wrapper
from seglab.registry import ConfigError


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.head = nn.Conv2d(4, 2, 1)
        self.dw = nn.Conv2d(4, 4, 3, groups=4, bias=False)


def _groups_by_name(model, wrapper):
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(g["params"][0])]: (g["lr"], g["weight_decay"]) for g in wrapper.optimizer.param_groups}


def test_plain_sgd_one_group():
    model = Tiny()
    w = build_optim_wrapper(model, dict(type="OptimWrapper", optimizer=dict(type="SGD", lr=0.01, momentum=0.9,
                                                                            weight_decay=5e-4), clip_grad=None))
    assert isinstance(w.optimizer, torch.optim.SGD) and len(w.optimizer.param_groups) == 1
    assert w.optimizer.param_groups[0]["momentum"] == 0.9
    assert len(w.optimizer.param_groups[0]["params"]) == len(list(model.parameters()))


def test_paramwise_custom_keys_norm_and_bias():
    model = Tiny()
    cfg = dict(optimizer=dict(type="AdamW", lr=0.1, weight_decay=0.01),
               paramwise_cfg=dict(custom_keys={"head": dict(lr_mult=10.0), "head.bias": dict(decay_mult=0.0)},
                                  norm_decay_mult=0.0, bias_lr_mult=2.0, bias_decay_mult=0.5, dwconv_decay_mult=0.3))
    w = build_optim_wrapper(model, cfg)
    g = _groups_by_name(model, w)
    assert g["backbone.0.weight"] == pytest.approx((0.1, 0.01))
    assert g["backbone.0.bias"] == pytest.approx((0.2, 0.005))  # bias_lr_mult, bias_decay_mult
    assert g["backbone.1.weight"] == pytest.approx((0.1, 0.0))  # norm_decay_mult
    assert g["backbone.1.bias"] == pytest.approx((0.1, 0.0))  # norm bias: norm rule, not bias rule
    assert g["head.weight"] == pytest.approx((1.0, 0.01))  # custom key 'head'
    assert g["head.bias"] == pytest.approx((0.1, 0.0))  # the longer custom key wins
    assert g["dw.weight"] == pytest.approx((0.1, 0.003))


def test_custom_key_matching_no_parameter_warns_naming_it():
    cfg = dict(optimizer=dict(type="SGD", lr=0.1), paramwise_cfg=dict(custom_keys={"hed": dict(lr_mult=10.0),
                                                                                  "head": dict(lr_mult=10.0)}))
    with pytest.warns(UserWarning, match=r"custom_keys \['hed'\] match no parameter"):
        w = build_optim_wrapper(Tiny(), cfg)
    assert max(g["lr"] for g in w.optimizer.param_groups) == pytest.approx(1.0)  # 'head' still applies
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every key matches: no warning
        build_optim_wrapper(Tiny(), dict(cfg, paramwise_cfg=dict(custom_keys={"head": dict(lr_mult=10.0)})))


def test_unknown_keys_are_errors_naming_the_key():
    with pytest.raises(ConfigError, match="clip_gard"):
        build_optim_wrapper(Tiny(), dict(optimizer=dict(type="SGD", lr=0.1), clip_gard=None))
    with pytest.raises(ConfigError, match="norm_decay"):
        build_optim_wrapper(Tiny(), dict(optimizer=dict(type="SGD", lr=0.1), paramwise_cfg=dict(norm_decay=0.0)))
    with pytest.raises(ConfigError, match="momentun"):
        build_optim_wrapper(Tiny(), dict(optimizer=dict(type="SGD", lr=0.1, momentun=0.9)))
    with pytest.raises(ConfigError, match="SGDD"):
        build_optim_wrapper(Tiny(), dict(optimizer=dict(type="SGDD", lr=0.1)))


def test_clip_grad_by_norm_limits_the_update():
    p = nn.Parameter(torch.zeros(4))
    w = OptimWrapper(torch.optim.SGD([p], lr=1.0), clip_grad=dict(max_norm=1.0, norm_type=2))
    w.update_params((p * torch.tensor([30.0, 40.0, 0.0, 0.0])).sum())  # grad norm 50
    assert w.last_grad_norm == pytest.approx(50.0)
    assert p.detach().tolist() == pytest.approx([-0.6, -0.8, 0.0, 0.0], abs=1e-6)
    q = nn.Parameter(torch.zeros(2))
    w = OptimWrapper(torch.optim.SGD([q], lr=1.0), clip_grad=dict(type="value", clip_value=0.5))
    w.update_params((q * torch.tensor([3.0, -0.2])).sum())
    assert q.detach().tolist() == pytest.approx([-0.5, 0.2])


def test_accumulative_counts_equals_big_batch():
    torch.manual_seed(0)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    lin_a, lin_b = nn.Linear(3, 1), nn.Linear(3, 1)
    lin_b.load_state_dict(lin_a.state_dict())
    big = OptimWrapper(torch.optim.SGD(lin_a.parameters(), lr=0.1))
    big.update_params(((lin_a(x) - y) ** 2).mean())
    acc = OptimWrapper(torch.optim.SGD(lin_b.parameters(), lr=0.1), accumulative_counts=4)
    acc.initialize_count_status(lin_b, 0, 4)
    for i in range(4):
        before = lin_b.weight.detach().clone()
        acc.update_params(((lin_b(x[2 * i:2 * i + 2]) - y[2 * i:2 * i + 2]) ** 2).mean())
        if i < 3:
            assert torch.equal(before, lin_b.weight)  # no step until the 4th call
    assert torch.allclose(lin_a.weight, lin_b.weight, atol=1e-6)
    assert torch.allclose(lin_a.bias, lin_b.bias, atol=1e-6)


def test_bf16_amp_on_cpu_trains_and_round_trips():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    w = build_optim_wrapper(model, dict(type="AmpOptimWrapper", dtype="bfloat16",
                                        optimizer=dict(type="SGD", lr=0.1)))
    assert isinstance(w, AmpOptimWrapper)
    x = torch.randn(32, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [1.5]])  # learnable target
    losses = []
    for _ in range(30):
        with w.optim_context(model):
            out = model(x)
            assert out.dtype == torch.bfloat16  # autocast is active in the forward
        loss = ((out.float() - y) ** 2).mean()
        w.update_params(loss)
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.3 * losses[0]
    state = w.state_dict()
    w2 = build_optim_wrapper(model, dict(type="AmpOptimWrapper", dtype="bfloat16", optimizer=dict(type="SGD", lr=0.1)))
    w2.load_state_dict(state)
    assert w2.optimizer.param_groups[0]["lr"] == 0.1


def test_amp_bad_dtype():
    with pytest.raises(ConfigError, match="dtype"):
        AmpOptimWrapper(torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1), dtype="float8")


def _amp(init_scale: float = 2.0**10):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    wrapper = AmpOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01), dtype="float16",
                              loss_scale=dict(init_scale=init_scale, growth_interval=3))
    return model, wrapper


def _amp_step(model, wrapper, x):
    with wrapper.optim_context(model):
        loss = model(x).float().pow(2).mean()
    wrapper.update_params(loss)


def test_amp_loss_scaler_state_round_trip():
    """float16 on CPU uses a real GradScaler; its scale and growth tracker survive a checkpoint."""
    import io

    model, wrapper = _amp()
    x = torch.ones(2, 4)
    for _ in range(2):
        _amp_step(model, wrapper, x)
    _amp_step(model, wrapper, torch.full((2, 4), float("inf")))  # overflow: the step is skipped, the scale halves
    for _ in range(2):
        _amp_step(model, wrapper, x)
    scaler_state = wrapper.state_dict()["loss_scaler"]
    assert scaler_state["scale"] == 2.0**9 and scaler_state["_growth_tracker"] == 2
    buffer = io.BytesIO()
    torch.save(wrapper.state_dict(), buffer)
    buffer.seek(0)

    model2, fresh = _amp(init_scale=1.0)
    model2.load_state_dict(model.state_dict())
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert fresh._scaler is not None and fresh._scaler.is_enabled()
    assert fresh._scaler.get_scale() == 2.0**9 and fresh._scaler._get_growth_tracker() == 2
    # One more clean step reaches growth_interval=3 on both: the scale doubles in step.
    _amp_step(model, wrapper, x)
    _amp_step(model2, fresh, x)
    assert fresh._scaler.get_scale() == wrapper._scaler.get_scale() == 2.0**10
    assert torch.equal(model.weight, model2.weight)
