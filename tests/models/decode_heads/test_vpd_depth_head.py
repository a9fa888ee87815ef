"""VPDDepthHead and SiLogLoss against MMSeg 1.2.2 (fixture from tools/make_vpd_head_fixture.py): the state-dict
layout of the configs/vpd head, and the output and loss of a small head on shared deterministic weights."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _shared import FILL, require

from seglab.models.losses import SiLogLoss
from seglab.registry import MODELS

FIXTURE = np.load(Path(__file__).parents[2] / "data" / "depth" / "vpd_depth_head.npz")


def test_state_dict_layout_equals_mmseg_with_default_arguments():
    with torch.device("meta"):
        head = MODELS.build(dict(type="VPDDepthHead"))
    ours = [[k, list(v.shape)] for k, v in head.state_dict().items()]
    assert ours == json.loads(str(FIXTURE["keys"]))


def test_output_and_silog_loss_equal_mmseg_on_shared_weights():
    spec = importlib.util.spec_from_file_location("parity_fill", require(FILL))
    fill = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fill)
    head = MODELS.build(dict(type="VPDDepthHead", **json.loads(str(FIXTURE["small_cfg"])))).eval()
    state = {k: torch.from_numpy(fill.fill(k, tuple(v.shape), v.is_floating_point()))
             for k, v in head.state_dict().items()}
    head.load_state_dict(state, strict=True)
    with torch.no_grad():
        depth = head([torch.from_numpy(FIXTURE[f"x{i}"]) for i in range(4)])
    torch.testing.assert_close(depth, torch.from_numpy(FIXTURE["depth"]), rtol=1e-4, atol=1e-5)
    loss = SiLogLoss()(depth, torch.from_numpy(FIXTURE["target"]))
    assert loss.item() == pytest.approx(float(FIXTURE["loss"]), abs=1e-5)
