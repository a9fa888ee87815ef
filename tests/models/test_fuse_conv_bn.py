"""fuse_conv_bn: BatchNorm folded into convolutions gives the same eval outputs; state dict and training unchanged."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _contract_cases import CASES, Case  # tests/models is on sys.path (rootdir-relative "prepend" import mode)
from test_contract import as_list, build, make_inputs, run
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from seglab.apis import init_model
from seglab.models import folded_pairs, fuse_conv_bn, is_fused
from seglab.models.layers.conv_module import ConvModule

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """Tiny tensors: one intra-op thread (restored afterwards)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def random_bn_stats_(model: nn.Module, seed: int = 1) -> nn.Module:
    """Non-trivial running statistics, so that folding them is a real check."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.3)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    return model


def count_bn(model: nn.Module) -> int:
    return sum(isinstance(m, _BatchNorm) for m in model.modules())


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_fused_module_gives_the_same_outputs(case: Case):
    model = random_bn_stats_(build(case)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fused = fuse_conv_bn(model)
    x = make_inputs(case, 0)
    with torch.no_grad():
        torch.manual_seed(0)  # LightHamHead draws its bases in the forward
        expected = as_list(run(model, case, x))
        torch.manual_seed(0)
        got = as_list(run(fused, case, x))
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4 * float(e.abs().max()) + 1e-6)
    # The input model is untouched: same keys, same values (fusion works on a copy).
    assert model.state_dict().keys() == before.keys()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert not is_fused(model)
    # The fused copy's state dict is the model's: a checkpoint written from it is the plain one.
    assert fused.state_dict().keys() == before.keys()
    assert all(torch.equal(v, before[k]) for k, v in fused.state_dict().items())


def test_every_kind_of_pair_is_folded():
    """ConvModule conv->bn, depthwise/grouped, conv without bias, ResNet's conv1/bn1 and Sequential pairs."""
    model = nn.ModuleDict(dict(
        cm=ConvModule(4, 8, 3, padding=1, norm_cfg=dict(type="BN")),
        dw=ConvModule(8, 8, 3, padding=1, groups=8, norm_cfg=dict(type="BN"), act_cfg=None),
        grouped=ConvModule(8, 8, 1, groups=2, bias=True, norm_cfg=dict(type="BN")),
        seq=nn.Sequential(nn.Conv2d(8, 4, 1, bias=False), nn.BatchNorm2d(4, affine=False)),
    ))
    random_bn_stats_(model).eval()

    def forward(m: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:
        return m["seq"](m["grouped"](m["dw"](m["cm"](x))))

    x = torch.randn(2, 4, 9, 11)
    fused = fuse_conv_bn(model)
    assert folded_pairs(fused) == count_bn(model) == 4
    with torch.no_grad():
        torch.testing.assert_close(forward(fused, x), forward(model, x), rtol=1e-5, atol=1e-5)


def test_unsafe_layouts_are_left_alone():
    pre_norm = ConvModule(4, 4, 3, padding=1, norm_cfg=dict(type="BN"), order=("norm", "act", "conv"))
    act_between = ConvModule(4, 4, 3, padding=1, norm_cfg=dict(type="BN"), order=("conv", "act", "norm"))
    transposed = nn.Sequential(nn.ConvTranspose2d(4, 4, 2), nn.BatchNorm2d(4))
    for module in (pre_norm, act_between, transposed):
        assert folded_pairs(fuse_conv_bn(module.eval())) == 0


def test_fold_overflowing_the_dtype_falls_back_to_the_plain_pair():
    plain = nn.Sequential(nn.Conv2d(2, 2, 1, bias=False), nn.BatchNorm2d(2, eps=0.0)).eval()
    with torch.no_grad():
        plain[0].weight.fill_(100.0)
        plain[1].running_var.fill_(1e-7)  # scale ~3162: the folded fp16 weight (3e5) overflows
    plain = plain.half()
    fused = fuse_conv_bn(plain)
    x = torch.full((1, 2, 3, 3), 1e-3, dtype=torch.float16)
    with torch.no_grad():
        expected, got = plain(x), fused(x)
    assert torch.isfinite(expected).all()
    torch.testing.assert_close(got, expected)


def test_training_mode_and_weight_updates_use_the_real_modules():
    model = random_bn_stats_(ConvModule(3, 4, 3, padding=1, norm_cfg=dict(type="BN"))).eval()
    fused = fuse_conv_bn(model)
    x = torch.randn(2, 3, 8, 8)
    # A training step on the fused model trains conv + BN exactly like the plain model.
    for m in (model, fused):
        m.train()
        torch.manual_seed(0)
        m(x).square().mean().backward()
        with torch.no_grad():
            for p in m.parameters():
                p -= 0.1 * p.grad
    torch.testing.assert_close(fused.state_dict(), model.state_dict())
    # Back in eval mode the fold is recomputed from the updated weights and statistics.
    model.eval(), fused.eval()
    with torch.no_grad():
        torch.testing.assert_close(fused(x), model(x), rtol=1e-5, atol=1e-5)
        # Loading other weights (a checkpoint) refreshes the fold too.
        other = random_bn_stats_(ConvModule(3, 4, 3, padding=1, norm_cfg=dict(type="BN")), seed=5).eval()
        fused.load_state_dict(other.state_dict())
        torch.testing.assert_close(fused(x), other(x), rtol=1e-5, atol=1e-5)


SEGMENTOR_CONFIGS = {
    "fcn": "fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py",
    "pspnet": "pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py",
    "deeplabv3plus": "deeplabv3plus/deeplabv3plus_r50-d8_4xb2-40k_cityscapes-512x1024.py",
    "bisenetv2": "bisenetv2/bisenetv2_fcn_4xb4-160k_cityscapes-1024x1024.py",
    "segformer": "segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py",
    "hrnet": "hrnet/fcn_hr18s_4xb2-40k_cityscapes-512x1024.py",
}


@pytest.mark.parametrize("name", list(SEGMENTOR_CONFIGS))
def test_init_model_fuses_by_default_with_equal_predictions(name: str):
    cfg = str(CONFIGS / SEGMENTOR_CONFIGS[name])
    plain = random_bn_stats_(init_model(cfg, fuse_conv_bn=False))
    assert not is_fused(plain)
    fused = fuse_conv_bn(plain)
    assert folded_pairs(fused) > 0
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = plain(x, mode="tensor"), fused(x, mode="tensor")
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
    assert is_fused(init_model(cfg)), "init_model fuses unless told not to"


def test_config_switch_turns_fusion_off(tmp_path: Path):
    cfg = tmp_path / "cfg.py"
    cfg.write_text(f"_base_ = ['{CONFIGS / SEGMENTOR_CONFIGS['fcn']}']\nfuse_conv_bn = False\n")
    assert not is_fused(init_model(str(cfg)))
    assert is_fused(init_model(str(cfg), fuse_conv_bn=True))


def test_torch_compile_traces_the_plain_pair_without_graph_breaks():
    """Under torch.compile the fold's cache check stays out of the graph (the compiler fuses BN itself)."""
    import torch._dynamo

    model = random_bn_stats_(nn.Sequential(ConvModule(3, 4, 3, padding=1, norm_cfg=dict(type="BN")))).eval()
    fused = fuse_conv_bn(model)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        got = torch.compile(fused, backend="eager")(x)
        torch.testing.assert_close(got, model(x), rtol=1e-5, atol=1e-5)
    assert not torch._dynamo.utils.counters["graph_break"]


def test_pickled_and_copied_models_stay_folded():
    """The folded forwards are objects, so a pickled or deep-copied model is folded and equal."""
    import copy
    import pickle

    model = random_bn_stats_(nn.Sequential(ConvModule(3, 4, 3, padding=1, norm_cfg=dict(type="BN")))).eval()
    fused = fuse_conv_bn(model)
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        expected = fused(x)
        for clone in (pickle.loads(pickle.dumps(fused)), copy.deepcopy(fused)):
            assert folded_pairs(clone) == 1
            assert torch.equal(clone(x), expected)


def test_training_with_a_fused_optimizer_refreshes_the_fold():
    """Fused optimizers and BN's running-statistics update write in place without bumping version
    counters: an eval forward after training must still use the current weights and statistics."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1))
    fuse_conv_bn(model, inplace=True)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, fused=True)
    x = torch.randn(4, 3, 16, 16)
    for _ in range(2):
        model.eval()
        with torch.no_grad():
            got = model(x)
            conv, bn = model[0], model[1]
            want = model[3](torch.relu(type(bn).forward(bn, type(conv).forward(conv, x))))
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        model.train()
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
