"""SiLogLoss: hand-computed value, scale invariance, invalid pixels, reductions, registry build."""

from __future__ import annotations

import math

import pytest
import torch

from seglab.models.losses import SiLogLoss
from seglab.registry import MODELS


def test_hand_computed_value_and_invalid_pixels():
    # Image 0: d = log(gt) - log(pred) = [0, ln 2] (the gt-0 pixel is left out); image 1: d = [ln 0.5, ln 0.5].
    pred = torch.tensor([[[[1.0, 1.0, 3.0]]], [[[2.0, 2.0, 2.0]]]])
    gt = torch.tensor([[[[1.0, 2.0, 0.0]]], [[[1.0, 1.0, 0.0]]]])
    ln2 = math.log(2)
    image0 = math.sqrt(ln2**2 / 2 - 0.5 * (ln2 / 2) ** 2)
    image1 = math.sqrt(ln2**2 - 0.5 * ln2**2)
    loss = MODELS.build(dict(type="SiLogLoss", loss_weight=2.0))
    assert loss.loss_name == "loss_silog"
    assert loss(pred, gt).item() == pytest.approx(2 * (image0 + image1) / 2, rel=1e-5)
    per_image = loss(pred, gt, reduction_override="none")
    assert per_image.tolist() == pytest.approx([2 * image0, 2 * image1], rel=1e-5)
    assert loss(pred, gt, reduction_override="sum").item() == pytest.approx(2 * (image0 + image1), rel=1e-5)


def test_gradient_skips_invalid_pixels_and_a_global_scale_costs_half_the_log_variance():
    gen = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 1, 5, 6, generator=gen) + 0.5
    gt[:, :, 0] = 0  # no depth in the first row
    pred = (torch.rand(2, 1, 5, 6, generator=gen) + 0.5).requires_grad_(True)
    SiLogLoss()(pred, gt).backward()
    assert not pred.grad[:, :, 0].any() and pred.grad[:, :, 1:].abs().sum() > 0
    # pred = c * gt everywhere: d = -ln c on every pixel, so the loss is sqrt(0.5) * ln c.
    scaled = SiLogLoss(reduction="none")(gt * 3.0, gt)
    assert scaled.tolist() == pytest.approx([math.sqrt(0.5) * math.log(3.0)] * 2, rel=1e-5)


def test_shape_mismatch_and_bad_reduction_fail():
    with pytest.raises(ValueError, match="differ in shape"):
        SiLogLoss()(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 3))
    with pytest.raises(ValueError, match="reduction"):
        SiLogLoss(reduction="max")
