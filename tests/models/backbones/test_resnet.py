"""ResNet / ResNetV1c / ResNetV1d: MMSeg key layout, parity with MMSeg outputs, options and errors."""
from __future__ import annotations

import json

import _shared
import pytest
import torch
from backbone_reference import CASES, assert_manifest
from torch import nn

from seglab.models.backbones import ResNet, ResNetV1c, ResNetV1d
from seglab.models.backbones.resnet import BasicBlock, Bottleneck
from seglab.registry import MODELS, ConfigError

GOLDENS = _shared.GOLDENS
PARITY = [n for n in CASES["cases"] if n.startswith("resnet")]
KEYS_ONLY = [n for n in CASES["keys_only"] if n.startswith("resnet")]


@pytest.mark.parametrize("name", PARITY)
def test_outputs_match_mmseg(name, check_parity):
    check_parity(name)


@pytest.mark.parametrize("name", KEYS_ONLY)
def test_keys_match_mmseg(name, check_keys):
    check_keys(name)


def _golden_backbones() -> dict[str, tuple[dict, list]]:
    """Distinct ResNet backbone configs of the shared goldens, with their ``backbone.`` manifests."""
    found: dict[str, tuple[dict, list]] = {}
    for path in sorted(GOLDENS.glob("*.keys.json")):
        golden = json.loads(path.read_text())
        cfg = golden["model_cfg"]["backbone"]
        if not cfg["type"].startswith("ResNet"):
            continue
        manifest = [[k[len("backbone."):], shape, dtype.startswith("float")]
                    for k, shape, dtype in golden["state_dict"] if k.startswith("backbone.")]
        found.setdefault(json.dumps(cfg, sort_keys=True), (cfg, manifest))
    return found


def test_shared_golden_backbone_manifests():
    _shared.require(GOLDENS)
    goldens = _golden_backbones()
    assert len(goldens) >= 3  # R18-d8, R50-d8, R50 without dilation
    for cfg, manifest in goldens.values():
        assert_manifest(MODELS.build(dict(cfg)), manifest)


def _small(cls=ResNet, **kwargs) -> ResNet:
    kwargs.setdefault("depth", 18)
    return cls(stem_channels=16, base_channels=8, **kwargs)


@pytest.mark.parametrize(
    "kwargs, strides",
    [
        (dict(), [4, 8, 16, 32]),
        (dict(strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)), [4, 8, 8, 8]),
        (dict(strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2), out_indices=(1, 3)), [8, 16]),
        (dict(depth=50, num_stages=2, strides=(1, 2), dilations=(1, 1), out_indices=(0, 1)), [4, 8]),
    ],
)
@pytest.mark.parametrize("cls", [ResNet, ResNetV1c, ResNetV1d])
def test_output_shapes_and_declared_strides(cls, kwargs, strides):
    model = _small(cls, **kwargs).eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 64, 64))
    assert model.out_strides == strides
    assert [o.shape[1] for o in outs] == model.out_channels
    expected = [(2, c, 64 // s, 64 // s) for c, s in zip(model.out_channels, strides, strict=True)]
    assert [tuple(o.shape) for o in outs] == expected
    expansion = model.block.expansion
    assert model.out_channels == [8 * 2**i * expansion for i in model.out_indices]


def _conv2_dilations(layer: nn.Sequential) -> list[int]:
    return [block.conv2.dilation[0] if isinstance(block, Bottleneck) else block.conv1.dilation[0] for block in layer]


def test_contract_dilation_and_multi_grid():
    model = _small(ResNetV1c, depth=50, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), contract_dilation=True)
    assert _conv2_dilations(model.layer3) == [1, 2, 2, 2, 2, 2]
    assert _conv2_dilations(model.layer4) == [2, 4, 4]
    plain = _small(ResNetV1c, depth=50, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4))
    assert _conv2_dilations(plain.layer4) == [4, 4, 4]
    grid = _small(ResNetV1c, depth=50, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2), multi_grid=(1, 2, 4),
                  contract_dilation=True)
    assert _conv2_dilations(grid.layer4) == [1, 2, 4]  # multi-grid rates are absolute and last-stage only
    assert _conv2_dilations(grid.layer3) == [1] * 6
    # Basic blocks dilate only their first conv (MMSeg's R18/R34).
    r18 = _small(ResNetV1c, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4))
    assert [b.conv2.dilation[0] for b in r18.layer4] == [1, 1]


def test_style_and_stem_layouts():
    caffe = _small(depth=50, style="caffe")
    assert caffe.layer2[0].conv1.stride == (2, 2) and caffe.layer2[0].conv2.stride == (1, 1)
    torch_style = _small(depth=50)
    assert torch_style.layer2[0].conv1.stride == (1, 1) and torch_style.layer2[0].conv2.stride == (2, 2)
    v1b, v1c, v1d = _small(), _small(ResNetV1c), _small(ResNetV1d)
    assert hasattr(v1b, "conv1") and hasattr(v1b, "bn1") and not hasattr(v1b, "stem")
    assert [type(m) for m in v1c.stem] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU] * 3
    assert [m.out_channels for m in v1c.stem if isinstance(m, nn.Conv2d)] == [8, 8, 16]
    assert isinstance(v1d.layer2[0].downsample[0], nn.AvgPool2d) and v1d.layer2[0].downsample[1].stride == (1, 1)
    assert isinstance(v1c.layer2[0].downsample[0], nn.Conv2d) and v1c.layer2[0].downsample[0].stride == (2, 2)


def test_zero_init_residual():
    model = _small(depth=50)
    assert all(float(b.bn3.weight.detach().abs().sum()) == 0 for b in model.modules() if isinstance(b, Bottleneck))
    r18 = _small(zero_init_residual=False)
    assert all(torch.all(b.bn2.weight == 1) for b in r18.modules() if isinstance(b, BasicBlock))


def test_frozen_stages_stay_frozen_in_train_mode():
    model = _small(ResNetV1c, frozen_stages=2)
    model.train()
    frozen = [model.stem, model.layer1, model.layer2]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(not m.training for f in frozen for m in f.modules())
    assert all(p.requires_grad for p in model.layer3.parameters()) and model.layer3.training
    stem_mean = model.stem[1].running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    assert torch.equal(model.stem[1].running_mean, stem_mean)  # frozen BN statistics do not move
    v1b = _small(frozen_stages=0).train()
    assert not v1b.conv1.weight.requires_grad and not v1b.bn1.training and v1b.layer1.training


def test_norm_eval_keeps_batchnorm_in_eval():
    model = _small(norm_eval=True).train()
    assert model.training and model.layer1[0].conv1.training
    assert all(not m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert all(p.requires_grad for p in model.parameters())  # norm_eval freezes statistics, not weights


def test_with_cp_same_output_and_gradients():
    torch.manual_seed(0)
    plain = _small(depth=50, num_stages=2, strides=(1, 2), dilations=(1, 1), out_indices=(0, 1)).eval()
    cp_model = _small(depth=50, num_stages=2, strides=(1, 2), dilations=(1, 1), out_indices=(0, 1),
                      with_cp=True).eval()
    cp_model.load_state_dict(plain.state_dict())
    for m in list(plain.modules()) + list(cp_model.modules()):
        if isinstance(m, nn.BatchNorm2d):  # non-zero last norms so every parameter gets a gradient
            nn.init.uniform_(m.weight, 0.5, 1.5)
    cp_model.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 32, 32)
    grads = []
    for model in (plain, cp_model):
        xi = x.clone().requires_grad_(True)
        outs = model(xi)
        sum(o.square().mean() for o in outs).backward()
        grads.append(([o.detach() for o in outs], xi.grad, [p.grad for p in model.parameters()]))
    (o1, gx1, gp1), (o2, gx2, gp2) = grads
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(o1, o2, strict=True))
    assert torch.allclose(gx1, gx2, atol=1e-6)
    assert all(a is not None and torch.allclose(a, b, atol=1e-6) for a, b in zip(gp1, gp2, strict=True))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(depth=42), "invalid depth 42"),
        (dict(depth=18, dcn=dict(type="DCN", deform_groups=1)), "deformable"),
        (dict(depth=18, plugins=[dict(cfg=dict(type="ContextBlock"))]), "plugins"),
        (dict(depth=18, style="tf"), "style"),
        (dict(depth=18, strides=(1, 2, 2)), "one entry per stage"),
        (dict(depth=18, out_indices=(0, 4)), "out_indices"),
        (dict(depth=18, frozen_stages=5), "frozen_stages"),
        (dict(depth=50, multi_grid=(1, 2)), "multi_grid"),
        (dict(depth=18, pretrained="a.pth", init_cfg=dict(type="Pretrained", checkpoint="b.pth")), "not both"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ResNet(**kwargs)


def test_registry_checks_variant_arguments():
    with pytest.raises(ConfigError, match="did you mean 'dilations'"):
        MODELS.build(dict(type="ResNetV1c", depth=18, dilation=(1, 1, 2, 4)))
    with pytest.raises(ConfigError, match="deep_stem"):  # V1c/V1d fix the stem; passing it is an error
        MODELS.build(dict(type="ResNetV1d", depth=18, deep_stem=False))
    assert isinstance(MODELS.build(dict(type="ResNetV1c", depth=18, base_channels=8)), ResNetV1c)


def test_init_cfg_pretrained_loads_weights(tmp_path):
    source = _small(ResNetV1c)
    with torch.no_grad():
        for p in source.parameters():
            p.uniform_(-1, 1)
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in source.state_dict().items()}}, tmp_path / "w.pth")
    model = _small(ResNetV1c, init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / "w.pth"),
                                            prefix="backbone."))
    assert not torch.equal(model.stem[0].weight, source.stem[0].weight)  # nothing is read at construction
    model.init_weights()
    loaded = zip(model.state_dict().values(), source.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in loaded)
    with pytest.warns(DeprecationWarning):
        legacy = _small(ResNetV1c, pretrained=str(tmp_path / "w.pth"))
    assert legacy.init_cfg == dict(type="Pretrained", checkpoint=str(tmp_path / "w.pth"))
