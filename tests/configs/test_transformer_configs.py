"""The transformer configs (swin, vit, segmenter, setr, dpt, beit, mae, twins) say what MMSegmentation's say.

tests/data/mmseg_manifests/<family>.json holds each MMSeg 1.2.2 config's resolved ``model`` dict (SyncBN as
BN, pretrained/init_cfg removed); seglab's config of the same name must resolve to the same dict, so every
argument (drop path rates, interpolation modes, test_cfg, ...) matches, not only the state-dict layout.
The BEiT/MAE configs' layer-decay optimizers build from the config file unchanged.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import seglab.models  # noqa: F401 - registration
from seglab.config import Config
from seglab.engine.optim import build_optim_wrapper
from seglab.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "tests" / "data" / "mmseg_manifests"
FAMILIES = ("swin", "vit", "segmenter", "setr", "dpt", "beit", "mae", "twins")
# Change detection on LEVIR-CD (6-channel inputs): seglab has no such dataset.
NOT_PORTED = {"swin-tiny-patch4-window7_upernet_1xb8-20k_levir-256x256"}


def normalise(obj: Any) -> Any:
    """JSON-like copy with tuples as lists, SyncBN as BN, and pretrained/init_cfg dropped."""
    if isinstance(obj, dict):
        if set(obj) == {"__tuple__"}:
            return [normalise(v) for v in obj["__tuple__"]]
        return {k: normalise("BN" if k == "type" and v == "SyncBN" else v) for k, v in obj.items()
                if k not in ("pretrained", "init_cfg")}
    if isinstance(obj, (list, tuple)):
        return [normalise(v) for v in obj]
    if isinstance(obj, float) and obj.is_integer():
        return int(obj)
    return obj


def _cases() -> list:
    params = []
    for family in FAMILIES:
        for entry in json.loads((MANIFESTS / f"{family}.json").read_text())["entries"]:
            for name in entry["configs"]:
                params.append(pytest.param(family, name, entry["model"], id=name))
    return params


CASES = _cases()


def test_every_mmseg_config_of_these_families_is_covered():
    assert len(CASES) >= 39
    missing = [p.id for p in CASES if p.id not in NOT_PORTED
               and not (REPO / "configs" / p.values[0] / f"{p.id}.py").is_file()]
    assert not missing, f"MMSeg configs without a seglab config: {missing}"


@pytest.mark.parametrize("family,name,reference", [p for p in CASES if p.id not in NOT_PORTED])
def test_model_dict_equals_mmseg(family: str, name: str, reference: dict):
    model = normalise(Config.fromfile(str(REPO / "configs" / family / f"{name}.py")).model)
    model["data_preprocessor"] = None
    assert model == normalise(reference)


@pytest.mark.parametrize("name,num_layers,rate,lr", [
    ("beit/beit-base_upernet_8xb2-160k_ade20k-640x640", 12, 0.9, 3e-5),
    ("beit/beit-large_upernet_8xb1-amp-160k_ade20k-640x640", 24, 0.95, 2e-5),
    ("mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512", 12, 0.65, 1e-4),
])
def test_layer_decay_optimizer_builds_from_the_config(name, num_layers, rate, lr):
    cfg = Config.fromfile(str(REPO / "configs" / f"{name}.py"))
    backbone = dict(cfg.model.backbone, embed_dims=8, num_heads=2, img_size=32, out_indices=(0, 1, 2, 3))
    model = MODELS.build(dict(
        type="EncoderDecoder", backbone=backbone,
        neck=dict(cfg.model.neck, embed_dim=8, norm_cfg=dict(type="BN")),
        decode_head=dict(cfg.model.decode_head, in_channels=[8] * 4, channels=4, norm_cfg=dict(type="BN")),
        auxiliary_head=dict(cfg.model.auxiliary_head, in_channels=8, channels=4, norm_cfg=dict(type="BN"))))
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    groups = {g["group_name"]: g for g in wrapper.optimizer.param_groups}
    total = num_layers + 2
    # layer i of the backbone is group i + 1; heads are the top group with the full lr
    assert groups["layer_1_decay"]["lr"] == pytest.approx(lr * rate ** (total - 2))
    assert groups[f"layer_{num_layers}_decay"]["lr"] == pytest.approx(lr * rate)
    assert groups[f"layer_{total - 1}_decay"]["lr"] == pytest.approx(lr)
    assert groups["layer_0_no_decay"]["weight_decay"] == 0.0
    assert groups["layer_1_decay"]["weight_decay"] == pytest.approx(0.05)
    names = {n for g in wrapper.optimizer.param_groups for n in g["param_names"]}
    assert names == {n for n, p in model.named_parameters() if p.requires_grad}
    assert isinstance(wrapper.optimizer, torch.optim.AdamW)
