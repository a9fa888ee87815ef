"""HRNet: declared widths/strides of MMSeg's variants, one-output mode, freezing, norm_eval, init, errors.

Numbers against MMSeg (odd sizes, mixed blocks, one output) are in tests/models/test_hrunet_reference.py;
the key layout of every MMSeg hrnet/ocrnet config in tests/models/test_mmseg_manifests.py.
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from seglab.models.backbones import HRNet
from seglab.models.backbones.resnet import BasicBlock, Bottleneck
from seglab.registry import ConfigError


def stage(modules: int, block: str, blocks: tuple, channels: tuple) -> dict:
    return dict(num_modules=modules, num_branches=len(blocks), block=block, num_blocks=blocks, num_channels=channels)


TINY = dict(stage1=stage(1, "BOTTLENECK", (1,), (4,)), stage2=stage(1, "BASIC", (1, 1), (4, 8)),
            stage3=stage(1, "BASIC", (1, 1, 1), (4, 8, 12)), stage4=stage(2, "BASIC", (1, 1, 1, 1), (4, 8, 12, 16)))


def hr(width: int, small: bool = False) -> dict:
    """MMSeg's HRNetV2-W<width> (``small``: W18-Small) stage spec."""
    b = 2 if small else 4
    c = (width, 2 * width, 4 * width, 8 * width)
    return dict(stage1=stage(1, "BOTTLENECK", (b,), (64,)), stage2=stage(1, "BASIC", (b,) * 2, c[:2]),
                stage3=stage(3 if small else 4, "BASIC", (b,) * 3, c[:3]),
                stage4=stage(2 if small else 3, "BASIC", (b,) * 4, c))


@pytest.mark.parametrize("width, small, params", [(18, True, 3_860_720), (18, False, 9_562_260),
                                                   (48, False, 65_325_120)])
def test_variants_declare_their_branches(width, small, params):
    with torch.device("meta"):
        model = HRNet(hr(width, small))
    assert model.out_channels == [width, 2 * width, 4 * width, 8 * width]
    assert model.out_strides == [4, 8, 16, 32]
    assert sum(p.numel() for p in model.parameters()) == params  # as counted on MMSeg 1.2.2's HRNet
    assert len(model.stage3) == (3 if small else 4) and len(model.stage4[0].branches[3]) == (2 if small else 4)


def test_forward_shapes_at_an_odd_size_and_one_output_mode():
    x = torch.randn(1, 3, 45, 61)
    outs = HRNet(TINY).eval()(x)
    assert [tuple(o.shape) for o in outs] == [(1, 4, 12, 16), (1, 8, 6, 8), (1, 12, 3, 4), (1, 16, 2, 2)]
    single = HRNet(TINY, multiscale_output=False).eval()
    assert single.out_channels == [4] and single.out_strides == [4]
    # Only the last module drops its lower-resolution outputs; the earlier one still fuses all four.
    assert len(single.stage4[0].fuse_layers) == 4 and len(single.stage4[1].fuse_layers) == 1
    assert [tuple(o.shape) for o in single(x)] == [(1, 4, 12, 16)]


def test_fuse_layers_have_mmseg_structure():
    module = HRNet(TINY).stage4[0]
    up = module.fuse_layers[0][3]  # branch 3 -> branch 0: 1x1 conv, norm, x8 upsample
    assert isinstance(up[0], nn.Conv2d) and up[0].kernel_size == (1, 1) and up[2].scale_factor == 8.0
    down = module.fuse_layers[3][0]  # branch 0 -> branch 3: three stride-2 3x3 convs, ReLU between
    assert len(down) == 3 and [len(step) for step in down] == [3, 3, 2]
    assert down[0][0].out_channels == 4 and down[2][0].out_channels == 16
    assert module.fuse_layers[1][1] is None


def test_frozen_stages_freeze_stem_stages_and_transitions():
    model = HRNet(TINY, frozen_stages=2).train()
    frozen = [model.conv1, model.norm1, model.conv2, model.norm2, model.layer1, model.transition1, model.stage2,
              model.transition2]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert not model.norm1.training and not model.stage2.training and not model.transition2.training
    assert all(p.requires_grad for p in model.stage3.parameters()) and model.stage3.training
    with pytest.raises(ConfigError, match="frozen_stages"):
        HRNet(TINY, frozen_stages=5)


def test_norm_eval_keeps_batchnorm_statistics():
    model = HRNet(TINY, norm_eval=True).train()
    before = model.stage4[1].branches[0][0].norm1.running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    assert all(not m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert torch.equal(model.stage4[1].branches[0][0].norm1.running_mean, before)


def test_default_init_and_zero_init_residual():
    torch.manual_seed(0)
    model = HRNet(TINY)
    assert torch.equal(model.norm1.weight, torch.ones(64))
    assert model.layer1[0].norm3.weight.abs().sum() > 0
    zeroed = HRNet(TINY, zero_init_residual=True)
    blocks = [m for m in zeroed.modules() if isinstance(m, (BasicBlock, Bottleneck))]
    assert blocks and all(not b.last_norm.weight.detach().any() for b in blocks)
    # Under a Pretrained init_cfg the checkpoint provides those norms: no zeroing.
    pretrained = HRNet(TINY, zero_init_residual=True, init_cfg=dict(type="Pretrained", checkpoint="x.pth"))
    assert pretrained.layer1[0].norm3.weight.abs().sum() > 0


def test_with_cp_gives_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = HRNet(TINY).train()
    cp = HRNet(TINY, with_cp=True).train()
    cp.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    out_a, out_b = plain(x), cp(x)
    for a, b in zip(out_a, out_b):
        torch.testing.assert_close(a, b)
    sum(o.sum() for o in out_a).backward()
    sum(o.sum() for o in out_b).backward()
    torch.testing.assert_close(plain.stage4[0].branches[1][0].conv1.weight.grad,
                               cp.stage4[0].branches[1][0].conv1.weight.grad)


@pytest.mark.parametrize("mutate, match", [
    (lambda e: e.pop("stage3"), "stage3 is missing"),
    (lambda e: e["stage2"].pop("block"), r"stage2 lacks \['block'\]"),
    (lambda e: e["stage4"].update(num_blocks=(1, 1, 1)), "num_branches=4 but num_blocks"),
    (lambda e: e["stage2"].update(block="BASIC2"), "choose one of"),
    (lambda e: e["stage1"].update(num_branches=2, num_blocks=(1, 1), num_channels=(4, 4)), "one branch"),
])
def test_bad_extra_fails_with_the_stage_and_key(mutate, match):
    extra = copy.deepcopy(TINY)
    mutate(extra)
    with pytest.raises(ConfigError, match=match):
        HRNet(extra)


def test_pretrained_and_init_cfg_together_fail():
    with pytest.raises(ConfigError, match="either pretrained or init_cfg"):
        HRNet(TINY, pretrained="a.pth", init_cfg=dict(type="Pretrained", checkpoint="b.pth"))
