"""Layer-wise lr decay constructors: every parameter's lr / weight_decay equals MMSegmentation's."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from seglab.engine.optim import (
    LayerDecayOptimizerConstructor,
    LearningRateDecayOptimizerConstructor,
    build_optim_wrapper,
)
from seglab.engine.optim.layer_decay_constructor import get_layer_id_for_convnext, get_layer_id_for_vit
from seglab.registry import ConfigError

GOLDEN = json.loads((Path(__file__).parents[1] / "data" / "engine" / "layer_decay_golden.json").read_text())


def build_tree(backbone_class: str, params: list) -> nn.Module:
    """A segmentor-like module tree with exactly the golden's parameter names, shapes and order."""
    classes: dict[str, type] = {}

    def module_for(root: nn.Module, path: list[str]) -> nn.Module:
        mod = root
        for i, part in enumerate(path):
            if not hasattr(mod, part):
                cls = nn.Module
                if i == 0 and part == "backbone":
                    cls = classes.setdefault(backbone_class, type(backbone_class, (nn.Module,), {}))
                mod.add_module(part, cls())
            mod = getattr(mod, part)
        return mod

    root = nn.Module()
    for name, shape, requires_grad in params:
        *path, leaf = name.split(".")
        module_for(root, path).register_parameter(leaf, nn.Parameter(torch.zeros(shape), requires_grad=requires_grad))
    return root


@pytest.mark.parametrize("case", GOLDEN, ids=[c["name"] for c in GOLDEN])
def test_groups_match_mmseg(case: dict) -> None:
    model = build_tree(case["backbone_class"], case["params"])
    assert [n for n, _ in model.named_parameters()] == [p[0] for p in case["params"]]
    wrapper = build_optim_wrapper(model, copy.deepcopy(case["optim_wrapper"]))
    names = {id(p): n for n, p in model.named_parameters()}
    got = {}
    for group in wrapper.optimizer.param_groups:
        for p in group["params"]:
            got[names[id(p)]] = group
    golden = case["groups"]
    assert set(got) == set(golden)  # frozen parameters are left out, all others are present
    assert len(golden) > 10
    for name, (group_name, lr, weight_decay, lr_scale) in golden.items():
        group = got[name]
        assert group["group_name"] == group_name, name
        assert group["lr"] == pytest.approx(lr, rel=1e-12), name
        assert group["weight_decay"] == pytest.approx(weight_decay, rel=1e-12), name
        assert group["lr_scale"] == pytest.approx(lr_scale, rel=1e-12), name
        assert name in group["param_names"]
    assert [g["group_name"] for g in wrapper.optimizer.param_groups] == case["group_order"]


def test_formula_by_hand() -> None:
    """ViT with num_layers=2, rate 0.5: ids 0..3 get lr * 0.5 ** (3 - id); heads get the full lr."""
    params = [["backbone.cls_token", [1, 1, 2], True], ["backbone.patch_embed.w", [2, 2], True],
              ["backbone.layers.0.w", [2, 2], True], ["backbone.layers.1.b", [2], True],
              ["decode_head.w", [2, 2], True]]
    model = build_tree("MyViTMAE", params)
    wrapper = build_optim_wrapper(model, dict(
        optimizer=dict(type="AdamW", lr=0.8, weight_decay=0.1), constructor="LearningRateDecayOptimizerConstructor",
        paramwise_cfg=dict(num_layers=2, decay_rate=0.5)))
    by_name = {g["param_names"][0]: (g["lr"], g["weight_decay"]) for g in wrapper.optimizer.param_groups}
    assert by_name == {"backbone.cls_token": (0.1, 0.1), "backbone.layers.0.w": (0.2, 0.1),
                       "backbone.layers.1.b": (0.4, 0.0), "decode_head.w": (0.8, 0.1)}
    # cls_token and patch_embed share layer 0's decay group
    assert wrapper.optimizer.param_groups[0]["param_names"] == ["backbone.cls_token", "backbone.patch_embed.w"]


def test_layer_ids() -> None:
    assert get_layer_id_for_convnext("backbone.stages.2.7.gamma", 12) == 3 + 7 // 3
    assert get_layer_id_for_convnext("backbone.stages.3.0.w", 12) == 12
    assert get_layer_id_for_convnext("backbone.downsample_layers.3.0.w", 12) == 12
    assert get_layer_id_for_convnext("neck.w", 12) == 13
    assert get_layer_id_for_vit("backbone.layers.11.ffn.w", 14) == 12
    assert get_layer_id_for_vit("backbone.norm1.weight", 14) == 13


def test_layer_decay_constructor_accepts_both_rate_names() -> None:
    base = dict(optimizer=dict(type="AdamW", lr=1.0, weight_decay=0.05))
    a = LayerDecayOptimizerConstructor(dict(base), dict(num_layers=4, layer_decay_rate=0.9))
    b = LayerDecayOptimizerConstructor(dict(base), dict(num_layers=4, decay_rate=0.9))
    assert a.paramwise_cfg == b.paramwise_cfg == dict(num_layers=4, decay_rate=0.9, decay_type="layer_wise_vit")


def test_bad_configs_name_the_problem() -> None:
    base = dict(optimizer=dict(type="AdamW", lr=1.0, weight_decay=0.05))
    with pytest.raises(ConfigError, match="decay_rate"):
        LearningRateDecayOptimizerConstructor(dict(base), dict(num_layers=4))
    with pytest.raises(ConfigError, match="custom_keys"):
        LearningRateDecayOptimizerConstructor(dict(base), dict(num_layers=4, decay_rate=0.9, custom_keys={}))
    with pytest.raises(ConfigError, match="decay_type"):
        LearningRateDecayOptimizerConstructor(dict(base), dict(num_layers=4, decay_rate=0.9, decay_type="block"))
    swin = build_tree("SwinTransformer", [["backbone.stages.0.w", [2, 2], True]])
    with pytest.raises(ConfigError, match="SwinTransformer"):
        LearningRateDecayOptimizerConstructor(dict(base), dict(num_layers=4, decay_rate=0.9))(swin)
    beit = build_tree("BEiT", [["backbone.layers.0.w", [2, 2], True]])
    with pytest.raises(ConfigError, match="stage_wise"):
        stage_wise = dict(num_layers=4, decay_rate=0.9, decay_type="stage_wise")
        LearningRateDecayOptimizerConstructor(dict(base), stage_wise)(beit)
