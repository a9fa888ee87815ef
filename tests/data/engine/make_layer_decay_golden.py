"""Regenerate layer_decay_golden.json: MMSegmentation 1.2.2's param groups for tiny fake models.

Run in the reference environment only (never imported by seglab or its tests):
    . /work/mmseg-ref/bin/activate && python tests/data/engine/make_layer_decay_golden.py
Each case stores the backbone class name, the optim_wrapper config, every parameter as
``[name, shape, requires_grad]`` (the test rebuilds the module tree from these names) and, per
trainable parameter, MMSeg's ``[group_name, lr, weight_decay, lr_scale]``, plus the
order of the groups.
"""

import copy
import json
from pathlib import Path

import torch
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmseg.utils import register_all_modules
from torch import nn

register_all_modules()
HERE = Path(__file__).parent


class FakeConvNeXt(nn.Module):
    """ConvNeXt-like names: downsample_layers.{0..3}, stages.{s}.{b}, norm{i}."""

    def __init__(self, depths=(1, 1, 7, 1), c=4) -> None:
        super().__init__()
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(3 if i == 0 else c, c, 2, 2), nn.LayerNorm(c)) for i in range(4)])
        self.stages = nn.ModuleList()
        for d in depths:
            blocks = nn.ModuleList()
            for _ in range(d):
                blk = nn.Module()
                blk.depthwise_conv = nn.Conv2d(c, c, 3, padding=1, groups=c)
                blk.norm = nn.LayerNorm(c)
                blk.pointwise_conv1 = nn.Linear(c, 2 * c)
                blk.gamma = nn.Parameter(torch.ones(c))
                blocks.append(blk)
            self.stages.append(blocks)
        for i in range(4):
            self.add_module(f"norm{i}", nn.LayerNorm(c))


class FakeBEiT(nn.Module):
    """BEiT/MAE-like names: cls_token, pos_embed, patch_embed, layers.N, norm."""

    def __init__(self, depth=4, c=4) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c))
        self.pos_embed = nn.Parameter(torch.zeros(1, 5, c))
        self.patch_embed = nn.Module()
        self.patch_embed.projection = nn.Conv2d(3, c, 2, 2)
        self.layers = nn.ModuleList()
        for _ in range(depth):
            layer = nn.Module()
            layer.ln1 = nn.LayerNorm(c)
            layer.attn = nn.Module()
            layer.attn.qkv = nn.Linear(c, 3 * c)
            layer.attn.relative_position_bias_table = nn.Parameter(torch.zeros(7, 2))
            layer.gamma_1 = nn.Parameter(torch.ones(c))
            self.layers.append(layer)
        self.norm1 = nn.LayerNorm(c)


class FakeMAE(FakeBEiT):
    """Same names as FakeBEiT; MMSeg dispatches on 'MAE' in the class name."""


class Segmentor(nn.Module):
    def __init__(self, backbone: nn.Module, c=4) -> None:
        super().__init__()
        self.backbone = backbone
        self.decode_head = nn.Module()
        self.decode_head.conv = nn.Conv2d(c, c, 3)
        self.decode_head.bn = nn.BatchNorm2d(c)
        self.decode_head.conv_seg = nn.Conv2d(c, 3, 1)
        self.auxiliary_head = nn.Module()
        self.auxiliary_head.conv_seg = nn.Conv2d(c, 3, 1)
        self.auxiliary_head.conv_seg.bias.requires_grad_(False)  # a frozen param is skipped


def case(name, backbone, optim_wrapper):
    model = Segmentor(backbone)
    cfg = copy.deepcopy(optim_wrapper)
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type=cfg.pop("constructor"), optim_wrapper_cfg=cfg, paramwise_cfg=cfg.pop("paramwise_cfg")))
    wrapper = constructor(model)
    names = {id(p): n for n, p in model.named_parameters()}
    per_param = {}
    order = []
    for g in wrapper.optimizer.param_groups:
        order.append(g["group_name"])
        for p in g["params"]:
            per_param[names[id(p)]] = [g["group_name"], g["lr"], g["weight_decay"], g["lr_scale"]]
    return dict(
        name=name,
        backbone_class=type(backbone).__name__,
        optim_wrapper=optim_wrapper,
        params=[[n, list(p.shape), p.requires_grad] for n, p in model.named_parameters()],
        groups=per_param,
        group_order=order,
    )


def adamw(**paramwise):
    return dict(type="OptimWrapper", optimizer=dict(type="AdamW", lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
                **paramwise)


cases = [
    case("convnext_layer_wise", FakeConvNeXt(), adamw(
        constructor="LearningRateDecayOptimizerConstructor",
        paramwise_cfg=dict(decay_rate=0.9, decay_type="layer_wise", num_layers=6))),
    case("convnext_layer_wise_12", FakeConvNeXt(depths=(1, 1, 9, 1)), adamw(
        constructor="LearningRateDecayOptimizerConstructor",
        paramwise_cfg=dict(decay_rate=0.9, decay_type="layer_wise", num_layers=12))),
    case("convnext_stage_wise", FakeConvNeXt(), adamw(
        constructor="LearningRateDecayOptimizerConstructor",
        paramwise_cfg=dict(decay_rate=0.8, decay_type="stage_wise", num_layers=4))),
    case("beit_layer_wise", FakeBEiT(), adamw(
        constructor="LearningRateDecayOptimizerConstructor",
        paramwise_cfg=dict(decay_rate=0.9, decay_type="layer_wise", num_layers=4))),
    case("mae_layer_wise", FakeMAE(depth=3), adamw(
        constructor="LearningRateDecayOptimizerConstructor",
        paramwise_cfg=dict(decay_rate=0.65, decay_type="layer_wise", num_layers=3))),
    case("beit_layer_decay_constructor", FakeBEiT(), adamw(
        constructor="LayerDecayOptimizerConstructor",
        paramwise_cfg=dict(num_layers=4, layer_decay_rate=0.9))),
]
(HERE / "layer_decay_golden.json").write_text("[\n" + ",\n".join(json.dumps(c) for c in cases) + "\n]" + "\n")
print("wrote", len(cases), "cases")
