"""Every config under configs/ (outside _base_) loads and its ``model`` builds on the meta device.

A config whose name matches a parity golden (../shared/parity/goldens) must build with exactly the
golden's state-dict keys, shapes and dtypes; one listed in tests/data/mmseg_manifests (recorded from
MMSegmentation 1.2.2) must give the same state-dict manifest hash. A config naming a type that is not
registered fails (never skips): a config is only added with the model it needs.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from _shared import GOLDENS, require

from seglab.config import Config
from seglab.models.mask_classification import MASK_LOSSES, PIXEL_DECODERS, TASK_UTILS
from seglab.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (REPO / "configs").rglob("*.py") if "_base_" not in p.relative_to(REPO / "configs").parts)
MANIFESTS = REPO / "tests" / "data" / "mmseg_manifests"
# MMSeg 1.2.2's sem_fpn/fpn_r101_4xb4-160k_ade20k-512x512.py re-assigns ``model`` after setting depth=101
# and so builds a ResNet-50; ours builds the ResNet-101 of its name.
MMSEG_BUGS = {"fpn_r101_4xb4-160k_ade20k-512x512"}
# Dicts under these keys are built by layer helpers (norm/act/conv) or are init specs, not MODELS types.
LAYER_KEYS = {"norm_cfg", "act_cfg", "conv_cfg", "dw_act_cfg", "upsample_cfg", "dcn", "init_cfg", "ffn_act_cfg",
              "assigner"}  # assigners and match costs are TASK_UTILS (SAN names them without mmdet.)


def model_types(cfg: object, key: str = "") -> set[str]:
    """MODELS type names a model dict refers to (outside layer configs)."""
    if isinstance(cfg, dict):
        if key in LAYER_KEYS:
            return set()
        found = {cfg["type"]} if isinstance(cfg.get("type"), str) else set()
        for k, v in cfg.items():
            found |= model_types(v, k)
        return found
    if isinstance(cfg, (list, tuple)):
        return set().union(*(model_types(v, key) for v in cfg)) if cfg else set()
    return set()


def registered(name: str) -> bool:
    """Whether a config type resolves: a MODELS name, or an ``mmdet.`` part of the mask-classification heads."""
    if name.startswith("mmdet."):
        return any(name[len("mmdet."):] in reg for reg in (PIXEL_DECODERS, MASK_LOSSES, TASK_UTILS))
    return name in MODELS


def mmseg_hashes() -> dict[str, str]:
    """Config name -> sha256 of MMSeg's ``[key, shape, dtype]`` state-dict list."""
    out: dict[str, str] = {}
    for path in sorted(MANIFESTS.glob("*.json")):
        for entry in json.loads(path.read_text())["entries"]:
            out.update(dict.fromkeys(entry["configs"], entry["sha256"]))
    return out


MMSEG_HASHES = mmseg_hashes()


def test_configs_were_collected():
    assert len(CONFIGS) >= 90
    methods = {p.parent.name for p in CONFIGS}
    assert {"fcn", "pspnet", "deeplabv3", "deeplabv3plus", "upernet", "sem_fpn", "fastfcn", "resnest",
            "mobilenet_v2"} <= methods


@pytest.mark.parametrize("path", CONFIGS, ids=[str(p.relative_to(REPO / "configs")) for p in CONFIGS])
def test_config_builds(path: Path):
    cfg = Config.fromfile(str(path))
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, "to_dict") else dict(cfg.model)
    missing = sorted(t for t in model_types(model_cfg) if not registered(t))
    assert not missing, f"{path.name} names types that are not registered: {', '.join(missing)}"
    with torch.device("meta"):
        model = MODELS.build(model_cfg)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params > 0
    golden = require(GOLDENS) / f"{path.stem}.keys.json"
    if golden.is_file():
        expected = [[k, list(s), d] for k, s, d in json.loads(golden.read_text())["state_dict"]]
        ours = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]
        assert sorted(ours) == sorted(expected)
    if path.stem in MMSEG_HASHES and path.stem not in MMSEG_BUGS:
        rows = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]
        digest = hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()
        assert digest == MMSEG_HASHES[path.stem], "state dict differs from MMSeg's (see tests/models/test_mmseg_manifests.py)"


def test_most_configs_have_an_mmseg_manifest():
    known = [p for p in CONFIGS if p.stem in MMSEG_HASHES]
    assert len(known) >= 90
