"""VPDDepthHead and SiLogLoss against MMSeg 1.2.2 (fixture from tools/make_vpd_head_fixture.py): the state-dict
layout of the configs/vpd head, the output and loss of a small head on shared deterministic weights, and a small
DepthEstimator's pred_depth_map in 'whole' and 'slide_flip' modes."""

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
from seglab.structures import SegDataSample

pytestmark = pytest.mark.usefixtures("single_thread")

FIXTURE = np.load(Path(__file__).parents[2] / "data" / "depth" / "vpd_depth_head.npz")


def test_state_dict_layout_equals_mmseg_with_default_arguments():
    with torch.device("meta"):
        head = MODELS.build(dict(type="VPDDepthHead"))
    ours = [[k, list(v.shape)] for k, v in head.state_dict().items()]
    assert ours == json.loads(str(FIXTURE["keys"]))


def _fill():  # noqa: ANN202 - the ../shared/parity/fill.py module
    spec = importlib.util.spec_from_file_location("parity_fill", require(FILL))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_output_and_silog_loss_equal_mmseg_on_shared_weights():
    fill = _fill()
    head = MODELS.build(dict(type="VPDDepthHead", **json.loads(str(FIXTURE["small_cfg"])))).eval()
    state = {k: torch.from_numpy(fill.fill(k, tuple(v.shape), v.is_floating_point()))
             for k, v in head.state_dict().items()}
    head.load_state_dict(state, strict=True)
    with torch.no_grad():
        depth = head([torch.from_numpy(FIXTURE[f"x{i}"]) for i in range(4)])
    torch.testing.assert_close(depth, torch.from_numpy(FIXTURE["depth"]), rtol=1e-4, atol=1e-5)
    loss = SiLogLoss()(depth, torch.from_numpy(FIXTURE["target"]))
    assert loss.item() == pytest.approx(float(FIXTURE["loss"]), abs=1e-5)


@pytest.mark.parametrize("mode", ["whole", "slide_flip"])
def test_depth_estimator_prediction_equals_mmseg(mode: str):
    fill = _fill()
    test_cfg = dict(mode="whole") if mode == "whole" else dict(mode=mode, crop_size=(64, 64), stride=(32, 32))
    cfg = dict(json.loads(str(FIXTURE["estimator_cfg"])), test_cfg=test_cfg)
    cfg.pop("data_preprocessor")
    model = MODELS.build(cfg).eval()
    model.load_state_dict({k: torch.from_numpy(fill.fill(k, tuple(v.shape), v.is_floating_point()))
                           for k, v in model.state_dict().items()}, strict=True)
    sample = SegDataSample(metainfo=dict(ori_shape=(40, 60), img_shape=(64, 96), pad_shape=(64, 96),
                                         padding_size=[0, 0, 0, 0]))
    with torch.no_grad():
        pred = model.predict(torch.from_numpy(fill.parity_input((1, 3, 64, 96))), [sample])[0].pred_depth_map.data
    torch.testing.assert_close(pred, torch.from_numpy(FIXTURE[f"pred_{mode}"]), rtol=1e-4, atol=1e-4)
