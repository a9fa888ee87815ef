"""The ConvNeXt and PoolFormer configs' optimizers build unchanged from the config files: ConvNeXt's stage-wise
layer decay (LearningRateDecayOptimizerConstructor) under AMP, PoolFormer's AdamW + poly schedule; and the
K-Net configs' AdamW with gradient clipping."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seglab.config import Config
from seglab.engine.optim import build_optim_wrapper
from seglab.registry import MODELS, PARAM_SCHEDULERS

REPO = Path(__file__).resolve().parents[2]


def _model(path: str, **backbone):  # noqa: ANN202
    """The config's model with a tiny backbone (same type and layout rules) and no pretrained weights."""
    cfg = Config.fromfile(str(REPO / path))
    model = cfg.model.to_dict() if hasattr(cfg.model, "to_dict") else dict(cfg.model)
    model["backbone"] = dict(model["backbone"], init_cfg=None, **backbone)
    return cfg, model


def test_convnext_stage_wise_decay_reaches_every_group():
    cfg, model_cfg = _model("configs/convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py",
                            arch=dict(depths=[1, 1, 2, 1], channels=[4, 8, 8, 16]))
    model_cfg["decode_head"] = dict(model_cfg["decode_head"], in_channels=[4, 8, 8, 16], channels=8)
    model_cfg["auxiliary_head"] = dict(model_cfg["auxiliary_head"], in_channels=8, channels=4)
    model = MODELS.build(model_cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper.to_dict())
    assert type(wrapper).__name__ == "AmpOptimWrapper" and isinstance(wrapper.optimizer, torch.optim.AdamW)
    groups = {g["group_name"]: g for g in wrapper.optimizer.param_groups}
    # num_layers=6, decay_rate=0.9: ids 0 (stem and downsamplers) .. 4 (stage 3), 7 (heads); scale 0.9^(7 - id)
    by_name = {n: g for g in wrapper.optimizer.param_groups for n in g["param_names"]}
    expected_id = {"backbone.downsample_layers.2.1.weight": 0, "backbone.stages.0.0.pointwise_conv1.weight": 1,
                   "backbone.stages.2.1.depthwise_conv.weight": 3, "backbone.stages.3.0.gamma": 4,
                   "backbone.norm3.weight": 7, "decode_head.conv_seg.weight": 7}
    for name, layer_id in expected_id.items():
        assert by_name[name]["lr"] == pytest.approx(1e-4 * 0.9 ** (7 - layer_id)), name
    assert by_name["backbone.stages.3.0.gamma"]["weight_decay"] == 0.0  # 1-D: no decay
    assert by_name["backbone.stages.0.0.pointwise_conv1.weight"]["weight_decay"] == 0.05
    assert sum(len(g["params"]) for g in groups.values()) == len(list(model.parameters()))
    schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=wrapper.optimizer)) for s in cfg.param_scheduler]
    assert [type(s).__name__ for s in schedulers] == ["LinearLR", "PolyLR"]


def test_poolformer_adamw_and_knet_clipped_adamw():
    cfg, model_cfg = _model("configs/poolformer/fpn_poolformer_s12_8xb4-40k_ade20k-512x512.py",
                            arch=dict(layers=[1, 1, 1, 1], embed_dims=[4, 8, 12, 16]))
    model_cfg["neck"] = dict(model_cfg["neck"], in_channels=[4, 8, 12, 16], out_channels=8)
    model_cfg["decode_head"] = dict(model_cfg["decode_head"], in_channels=[8, 8, 8, 8], channels=8)
    model = MODELS.build(model_cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper.to_dict())
    (group,) = wrapper.optimizer.param_groups
    assert isinstance(wrapper.optimizer, torch.optim.AdamW) and group["lr"] == 2e-4 and group["weight_decay"] == 1e-4
    # the patch embedding is frozen (mmpretrain's frozen_stages=0), so it is not optimised
    assert not any(p is q for p in group["params"] for q in model.backbone.patch_embed.parameters())

    knet = Config.fromfile(str(REPO / "configs/knet/knet-s3_r50-d8_fcn_8xb2-adamw-80k_ade20k-512x512.py"))
    wrapper = build_optim_wrapper(torch.nn.Linear(2, 2), knet.optim_wrapper.to_dict())
    assert wrapper.optimizer.param_groups[0]["lr"] == 1e-4 and wrapper.optimizer.param_groups[0]["weight_decay"] == 5e-4
    assert dict(wrapper.clip_grad) == dict(max_norm=1, norm_type=2)
