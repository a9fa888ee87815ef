"""The Twins UPerNet configs' optimizer: AdamW with no weight decay on norms and, as in MMSegmentation (whose
``'pos_block'`` key matches nothing), weight decay on the position encodings."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import seglab.models  # noqa: F401 - registration
from seglab.config import Config
from seglab.engine.optim import build_optim_wrapper
from seglab.registry import MODELS

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["twins_pcpvt-s_uperhead_8xb4-160k_ade20k-512x512",
                                  "twins_svt-s_uperhead_8xb2-160k_ade20k-512x512"])
def test_uperhead_config_decays_all_but_the_norms(name: str):
    cfg = Config.fromfile(str(REPO / "configs" / "twins" / f"{name}.py"))
    backbone = dict(cfg.model.backbone, embed_dims=[8, 8, 8, 8], num_heads=[1, 1, 1, 1], depths=[2, 1, 1, 1],
                    init_cfg=None)
    model = MODELS.build(dict(
        type="EncoderDecoder", backbone=backbone,
        decode_head=dict(cfg.model.decode_head, in_channels=[8] * 4, channels=4, norm_cfg=dict(type="BN")),
        auxiliary_head=dict(cfg.model.auxiliary_head, in_channels=8, channels=4, norm_cfg=dict(type="BN"))))
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert isinstance(wrapper.optimizer, torch.optim.AdamW)
    decay = {id(p): g["weight_decay"] for g in wrapper.optimizer.param_groups for p in g["params"]}
    params = dict(model.named_parameters())
    assert decay[id(params["backbone.layers.0.0.norm1.weight"])] == 0.0
    assert decay[id(params["backbone.patch_embeds.0.norm.bias"])] == 0.0
    assert decay[id(params["backbone.position_encodings.0.proj.weight"])] == pytest.approx(0.01)
    assert decay[id(params["backbone.layers.0.0.ffn.layers.0.0.weight"])] == pytest.approx(0.01)
    assert len(decay) == sum(p.requires_grad for p in model.parameters())
