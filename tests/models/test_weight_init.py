"""init_weights(): segmentors initialise their components, Pretrained init_cfg / pretrained load, errors name the file."""
from __future__ import annotations

import logging

import pytest
import torch
from _optional import require

import seglab.models  # noqa: F401 - registration
from seglab.models.weight_init import PretrainedWeightsError, without_pretrained
from seglab.registry import MODELS, ConfigError

NORM = dict(type="GN", num_groups=2, requires_grad=True)


def model_cfg(**overrides) -> dict:
    cfg = dict(
        type="EncoderDecoder",
        backbone=dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=8, norm_cfg=NORM),
        neck=dict(type="FPN", in_channels=[8, 16, 32, 64], out_channels=8, num_outs=4),
        decode_head=dict(type="FCNHead", in_channels=8, in_index=3, channels=8, num_convs=1, num_classes=3,
                         norm_cfg=NORM),
        auxiliary_head=[dict(type="FCNHead", in_channels=8, in_index=2, channels=4, num_convs=1, num_classes=3,
                             norm_cfg=NORM)],
    )
    cfg.update(overrides)
    return cfg


def seeded_state(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=gen) for k, v in module.state_dict().items()}


def assert_state(module: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    own = module.state_dict()
    assert own.keys() == expected.keys()
    for k, v in expected.items():
        assert torch.equal(own[k], v), k


@pytest.fixture()
def whole(tmp_path):
    """A whole-segmentor checkpoint of seeded random weights, and its state dict."""
    state = seeded_state(MODELS.build(model_cfg()), 1)
    torch.save({"meta": {}, "state_dict": state}, tmp_path / "whole.pth")
    return str(tmp_path / "whole.pth"), state


def part(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def test_segmentor_pretrained_reaches_the_backbone(tmp_path, caplog):
    model = MODELS.build(model_cfg())
    backbone = seeded_state(model.backbone, 0)
    torch.save(backbone, tmp_path / "r18.pth")
    model = MODELS.build(model_cfg(pretrained=str(tmp_path / "r18.pth")))
    assert model.backbone.init_cfg == dict(type="Pretrained", checkpoint=str(tmp_path / "r18.pth"))
    head_before = {k: v.clone() for k, v in model.decode_head.state_dict().items()}
    with caplog.at_level(logging.INFO, logger="seglab"):
        assert model.init_weights() is True
    assert_state(model.backbone, backbone)
    assert_state(model.decode_head, head_before)  # heads without init_cfg keep their construction init
    n = len(backbone)
    assert f"ResNetV1c: loaded {n}/{n} pretrained tensors from {tmp_path / 'r18.pth'}" in caplog.text


def test_components_load_their_own_init_cfg_with_prefix(whole):
    path, state = whole
    cfg = model_cfg()
    cfg["backbone"]["init_cfg"] = dict(type="Pretrained", checkpoint=path, prefix="backbone.")
    cfg["neck"]["init_cfg"] = dict(type="Pretrained", checkpoint=path, prefix="neck")  # MMCV adds the dot
    cfg["decode_head"]["init_cfg"] = dict(type="Pretrained", checkpoint=path, prefix="decode_head.")
    cfg["auxiliary_head"][0]["init_cfg"] = dict(type="Pretrained", checkpoint=path, prefix="auxiliary_head.0.")
    model = MODELS.build(cfg)
    model.init_weights()
    for name in ("backbone", "neck", "decode_head"):
        assert_state(getattr(model, name), part(state, name + "."))
    assert_state(model.auxiliary_head[0], part(state, "auxiliary_head.0."))


def test_segmentor_init_cfg_loads_last_and_wins(whole, tmp_path):
    path, state = whole
    other = {k: torch.zeros_like(v) for k, v in part(state, "backbone.").items()}
    torch.save(other, tmp_path / "zeros.pth")
    model = MODELS.build(model_cfg(pretrained=str(tmp_path / "zeros.pth"),
                                   init_cfg=dict(type="Pretrained", checkpoint=path)))
    model.init_weights()
    assert_state(model, state)


def test_from_scratch_loads_nothing(caplog):
    model = MODELS.build(model_cfg(pretrained=None))
    with caplog.at_level(logging.INFO, logger="seglab"):
        assert model.init_weights() is False
    assert "EncoderDecoder: no pretrained weights configured" in caplog.text
    assert "loaded" not in caplog.text


def test_torchvision_layout_loads_into_resnet_with_the_classifier_reported(tmp_path, caplog):
    # torchvision's ResNet-18 names, written out independently of seglab: conv1/bn1, layerN.B.{conv,bn}{1,2},
    # layerN.0.downsample.{0,1} for N > 1, fc. Old torchvision files have no num_batches_tracked.
    names = ["conv1.weight"] + [f"bn1.{p}" for p in ("weight", "bias", "running_mean", "running_var")]
    for stage in range(1, 5):
        for block in range(2):
            for i in (1, 2):
                names += [f"layer{stage}.{block}.conv{i}.weight"]
                names += [f"layer{stage}.{block}.bn{i}.{p}" for p in ("weight", "bias", "running_mean", "running_var")]
        if stage > 1:
            names += [f"layer{stage}.0.downsample.0.weight"]
            names += [f"layer{stage}.0.downsample.1.{p}" for p in ("weight", "bias", "running_mean", "running_var")]
    model = MODELS.build(dict(type="ResNet", depth=18, stem_channels=8, base_channels=8))
    own = model.state_dict()
    assert sorted(k for k in own if not k.endswith("num_batches_tracked")) == sorted(names)
    gen = torch.Generator().manual_seed(0)
    tv = {k: torch.rand(own[k].shape, generator=gen) + 0.5 for k in names}
    tv.update({"fc.weight": torch.zeros(1000, 64), "fc.bias": torch.zeros(1000)})
    torch.save(tv, tmp_path / "resnet18-tv.pth")
    model = MODELS.build(dict(type="ResNet", depth=18, stem_channels=8, base_channels=8,
                              init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / "resnet18-tv.pth"))))
    with caplog.at_level(logging.INFO, logger="seglab"):
        model.init_weights()
    for k in names:
        assert torch.equal(model.state_dict()[k], tv[k]), k
    record = next(r for r in caplog.records if "pretrained tensors" in r.getMessage())
    assert record.levelno == logging.INFO  # nothing of the backbone is missing: no warning
    assert "loaded 100/100 pretrained tensors" in record.getMessage()  # BN step counters are not counted
    assert "missing 0, unexpected 2" in record.getMessage()
    assert "unexpected keys in checkpoint (2): fc.weight, fc.bias" in record.getMessage()


def test_partial_checkpoint_warns_with_the_missing_names(tmp_path, caplog):
    model = MODELS.build(model_cfg())
    state = seeded_state(model.backbone, 0)
    del state["stem.0.weight"]
    torch.save(state, tmp_path / "partial.pth")
    backbone = MODELS.build(dict(model_cfg()["backbone"],
                                 init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / "partial.pth"))))
    with caplog.at_level(logging.INFO, logger="seglab"):
        backbone.init_weights()
    record = next(r for r in caplog.records if "pretrained tensors" in r.getMessage())
    assert record.levelno == logging.WARNING
    assert "missing 1" in record.getMessage() and "stem.0.weight" in record.getMessage()


@pytest.mark.parametrize("content, message", [
    (None, "checkpoint file not found"),
    (b"this is not a checkpoint", "not a readable checkpoint"),
    (b"<html>502 Bad Gateway</html>", "restricted reader failed"),
])
def test_unreadable_pretrained_is_an_error_naming_the_path_and_the_fix(tmp_path, content, message):
    path = tmp_path / "r18.pth"
    if content is not None:
        path.write_bytes(content)
    model = MODELS.build(model_cfg(pretrained=str(path)))
    with pytest.raises(PretrainedWeightsError, match=message) as err:
        model.init_weights()
    assert f"cannot load pretrained weights from {path}" in str(err.value)
    assert "model.pretrained=None" in str(err.value)


def test_checkpoint_that_fits_nothing_is_an_error_suggesting_the_prefix(whole):
    path, state = whole
    model = MODELS.build(model_cfg(pretrained=path))  # a whole-model file given as backbone weights
    n = len(part(state, "backbone."))
    with pytest.raises(PretrainedWeightsError, match=rf"with prefix='backbone.', {n} tensors fit"):
        model.init_weights()
    cfg = model_cfg()
    cfg["backbone"]["init_cfg"] = dict(type="Pretrained", checkpoint=path, prefix="backbone_typo.")
    with pytest.raises(PretrainedWeightsError, match="no key of .* starts with prefix 'backbone_typo.'"):
        MODELS.build(cfg).init_weights()


def test_config_mistakes_fail_at_build_or_init():
    cfg = model_cfg(pretrained="a.pth")
    cfg["backbone"]["init_cfg"] = dict(type="Pretrained", checkpoint="b.pth")
    with pytest.raises(ConfigError, match="model.pretrained=None"):
        MODELS.build(cfg)
    cfg = model_cfg()
    cfg["decode_head"]["init_cfg"] = dict(type="Pretrained", checkpiont="b.pth")
    with pytest.raises(ConfigError, match="did you mean 'checkpoint'"):
        MODELS.build(cfg).init_weights()
    cfg["decode_head"]["init_cfg"] = dict(type="Pretrained")
    with pytest.raises(ConfigError, match="needs 'checkpoint'"):
        MODELS.build(cfg).init_weights()


def test_without_pretrained_strips_every_weight_source():
    cfg = model_cfg(pretrained="open-mmlab://resnet50_v1c", init_cfg=dict(type="Pretrained", checkpoint="x.pth"))
    cfg["decode_head"]["init_cfg"] = [dict(type="Normal", std=0.01), dict(type="Pretrained", checkpoint="y.pth")]
    out = without_pretrained(dict(type="SegTTAModel", module=cfg))
    assert out["module"]["pretrained"] is None and out["module"]["init_cfg"] is None
    assert out["module"]["decode_head"]["init_cfg"] == [dict(type="Normal", std=0.01)]
    assert cfg["pretrained"] == "open-mmlab://resnet50_v1c"  # the input is not changed


BACKBONES = [
    dict(type="ResNet", depth=18, stem_channels=8, base_channels=8),
    dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=8),
    dict(type="ResNetV1d", depth=18, stem_channels=8, base_channels=8),
    dict(type="ResNeXt", depth=50, stem_channels=8, base_channels=8, groups=2, base_width=4),
    dict(type="ResNeSt", depth=50, stem_channels=16, base_channels=8, radix=2, reduction_factor=4),
    dict(type="MobileNetV2", widen_factor=0.25),
    dict(type="MixVisionTransformer", embed_dims=4, num_layers=[1, 1, 1, 1], num_heads=[1, 2, 2, 4]),
    dict(type="MSCAN", embed_dims=[8, 8, 16, 16], mlp_ratios=[2, 2, 2, 2], depths=[1, 1, 1, 1], norm_cfg=dict(type="BN")),
    dict(type="SwinTransformer", pretrain_img_size=32, embed_dims=8, depths=(1, 1), num_heads=(1, 2),
         strides=(4, 2), out_indices=(0, 1), window_size=2),
    dict(type="VisionTransformer", img_size=32, patch_size=8, embed_dims=8, num_layers=2, num_heads=2,
         out_indices=(1,)),
    dict(type="BEiT", img_size=32, patch_size=8, embed_dims=8, num_layers=2, num_heads=2, out_indices=(1,)),
    dict(type="MAE", img_size=32, patch_size=8, embed_dims=8, num_layers=2, num_heads=2, out_indices=(1,)),
    dict(type="BiSeNetV2", detail_channels=(8, 8, 16), semantic_channels=(4, 8, 8, 16), semantic_expansion_ratio=2,
         bga_channels=16),
    dict(type="BiSeNetV1", backbone_cfg=dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=8),
         spatial_channels=(8, 8, 8, 16), context_channels=(16, 32, 64), out_channels=16),
    dict(type="STDCNet", stdc_type="STDCNet1", in_channels=3, channels=(8, 16, 32, 64, 128), bottleneck_type="cat",
         norm_cfg=dict(type="BN"), act_cfg=dict(type="ReLU")),
    dict(type="STDCContextPathNet", backbone_cfg=dict(
        type="STDCNet", stdc_type="STDCNet1", in_channels=3, channels=(8, 16, 32, 64, 128), bottleneck_type="cat",
        norm_cfg=dict(type="BN"), act_cfg=dict(type="ReLU")), last_in_channels=(128, 64), out_channels=16,
        ffm_cfg=dict(in_channels=48, out_channels=32, scale_factor=4)),
    dict(type="FastSCNN", downsample_dw_channels=(8, 12), global_in_channels=16, global_block_channels=(16, 24, 32),
         global_out_channels=32, higher_in_channels=16, lower_in_channels=32, fusion_out_channels=32),
    dict(type="MobileNetV3", arch="small", reduction_factor=4),
    dict(type="PIDNet", channels=4, ppm_channels=8, num_branch_blocks=1),
    dict(type="DDRNet", channels=4, ppm_channels=8),
    dict(type="ICNet", backbone_cfg=dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=8,
                                         dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1)),
         layer_channels=(16, 64), light_branch_middle_channels=4, psp_out_channels=8, out_channels=(4, 8, 8)),
    dict(type="CGNet", num_channels=(4, 8, 16), num_blocks=(1, 2), reductions=(2, 4)),
    dict(type="ERFNet", enc_downsample_channels=(4, 8, 16), enc_stage_non_bottlenecks=(1, 4),
         enc_non_bottleneck_dilations=(2, 4), enc_non_bottleneck_channels=(8, 16), dec_upsample_channels=(8, 4),
         dec_stages_non_bottleneck=(1, 1), dec_non_bottleneck_channels=(8, 4)),
    dict(type="HRNet", extra=dict(
        stage1=dict(num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(1,), num_channels=(4,)),
        stage2=dict(num_modules=1, num_branches=2, block="BASIC", num_blocks=(1, 1), num_channels=(4, 8)),
        stage3=dict(num_modules=1, num_branches=3, block="BASIC", num_blocks=(1, 1, 1), num_channels=(4, 8, 8)),
        stage4=dict(num_modules=1, num_branches=4, block="BASIC", num_blocks=(1, 1, 1, 1),
                    num_channels=(4, 8, 8, 8)))),
    dict(type="UNet", base_channels=4, num_stages=3, strides=(1, 1, 1), enc_num_convs=(1, 1, 1),
         dec_num_convs=(1, 1), downsamples=(True, True), enc_dilations=(1, 1, 1), dec_dilations=(1, 1)),
    dict(type="PCPVT", embed_dims=[8, 16], num_heads=[1, 2], patch_sizes=[4, 2], strides=[4, 2], mlp_ratios=[2, 2],
         depths=[1, 1], sr_ratios=[2, 1], qkv_bias=True, out_indices=(0, 1)),
    dict(type="SVT", embed_dims=[8, 16], num_heads=[1, 2], patch_sizes=[4, 2], strides=[4, 2], mlp_ratios=[2, 2],
         depths=[2, 2], sr_ratios=[2, 1], windiow_sizes=[3, 2], out_indices=(0, 1)),
    dict(type="ConvNeXt", arch=dict(depths=[1, 1], channels=[4, 8]), out_indices=[0, 1], gap_before_final_norm=False),
    dict(type="PoolFormer", arch=dict(layers=[1, 1], embed_dims=[4, 8]), out_indices=(0, 2)),
    dict(type="TIMMBackbone", model_name="resnet18", out_indices=(1, 2)),
]
OPTIONAL_BACKBONES = {"TIMMBackbone": "timm"}  # type -> the optional extra's module it needs


def test_the_backbone_list_below_covers_every_backbone():
    import seglab.models.backbones as backbones

    exported = {name for name in dir(backbones) if isinstance(getattr(backbones, name), type)}
    assert exported == {cfg["type"] for cfg in BACKBONES}, "add the new backbone to BACKBONES"


@pytest.mark.parametrize("cfg", BACKBONES, ids=lambda cfg: cfg["type"])
def test_every_backbone_loads_pretrained_and_init_cfg_with_prefix(tmp_path, cfg):
    if cfg["type"] in OPTIONAL_BACKBONES:
        require(OPTIONAL_BACKBONES[cfg["type"]])
    # Counters and window index tables are not weights (the index is a fixed function of the window size).
    state = {k: v for k, v in seeded_state(MODELS.build(cfg), 0).items()
             if not k.endswith(("num_batches_tracked", "relative_position_index"))}
    torch.save(state, tmp_path / "plain.pth")
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in state.items()}}, tmp_path / "whole.pth")
    by_prefix = MODELS.build(dict(cfg, init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / "whole.pth"),
                                                     prefix="backbone.")))
    models = [by_prefix]
    if cfg["type"] != "TIMMBackbone":  # its `pretrained` is timm's own download switch (a bool), not a path
        with pytest.warns(DeprecationWarning):
            models.append(MODELS.build(dict(cfg, pretrained=str(tmp_path / "plain.pth"))))
    for model in models:
        assert model.init_weights() is True
        for k, v in state.items():
            assert torch.equal(model.state_dict()[k], v), k


def test_other_init_cfg_types_are_not_applied_and_say_so(caplog):
    cfg = model_cfg()
    cfg["decode_head"]["init_cfg"] = dict(type="Normal", std=0.01, override=dict(name="conv_seg"))
    model = MODELS.build(cfg)
    before = {k: v.clone() for k, v in model.decode_head.state_dict().items()}
    with caplog.at_level(logging.WARNING, logger="seglab"):
        model.init_weights()
    assert "FCNHead: init_cfg type 'Normal' is not applied" in caplog.text
    assert_state(model.decode_head, before)
