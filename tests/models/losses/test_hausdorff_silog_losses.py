"""HuasdorffDisstanceLoss / HausdorffDistanceLoss and SiLogLoss against hand-computed values (MMSeg 1.2.2's
definitions; both were also checked against MMSeg on random inputs when written)."""
from __future__ import annotations

import math

import pytest
import torch

from seglab.models.losses import HausdorffDistanceLoss, HuasdorffDisstanceLoss, SiLogLoss
from seglab.models.losses.hausdorff_distance_loss import foreground_distance_map
from seglab.registry import MODELS


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_foreground_distance_map_is_the_euclidean_distance_to_the_nearest_background_pixel():
    labels = torch.tensor([[[0, 1, 1, 1], [1, 2, 1, 1], [1, 1, 1, 1]]])
    r2, r5, r8, r10, r13 = (math.sqrt(v) for v in (2, 5, 8, 10, 13))
    expected = torch.tensor([[[0, 1, 2, 3], [1, r2, r5, r10], [2, r5, r8, r13]]])
    torch.testing.assert_close(foreground_distance_map(labels), expected)


def test_foreground_distance_map_without_foreground_or_background():
    assert foreground_distance_map(torch.zeros(1, 2, 3, dtype=torch.long)).abs().sum() == 0
    # No background at all: distances to the pixel above the top-left corner (scipy's, hence MMSeg's, values).
    full = foreground_distance_map(torch.ones(1, 2, 2, dtype=torch.long))
    torch.testing.assert_close(full, torch.tensor([[[1.0, math.sqrt(2)], [2.0, math.sqrt(5)]]]))


def _binary_case() -> tuple[torch.Tensor, torch.Tensor, float]:
    """Labels [0, 1, 1]; class-1 logits [-1, -1, 1] against class-0 logits 0, so p1 = sigmoid(l) and the
    prediction is [0, 0, 1]. Distance maps: ground truth [0, 1, 2], prediction [0, 0, 1]."""
    target = torch.tensor([[[0, 1, 1]]])
    pred = torch.zeros(1, 2, 1, 3)
    pred[0, 1, 0] = torch.tensor([-1.0, -1.0, 1.0])
    p = [_sigmoid(-1), _sigmoid(-1), _sigmoid(1)]
    per_pixel = [(p[0] - 0) ** 2 * (0 + 0), (p[1] - 1) ** 2 * (0 + 1), (p[2] - 1) ** 2 * (1 + 4)]
    return pred, target, sum(per_pixel) / 3 / 2  # mean over pixels, divided by the 2 classes


def test_hausdorff_loss_binary_hand_computed():
    pred, target, expected = _binary_case()
    assert HuasdorffDisstanceLoss()(pred, target).item() == pytest.approx(expected, rel=1e-5)
    assert HuasdorffDisstanceLoss(loss_weight=3.0)(pred, target, avg_factor=2.0).item() == pytest.approx(
        3.0 * expected / 2.0, rel=1e-5)
    # class_weight scales the class-1 term (class 0 is background and never counted).
    assert HuasdorffDisstanceLoss(class_weight=[5.0, 0.5])(pred, target).item() == pytest.approx(
        0.5 * expected, rel=1e-5)


def test_hausdorff_loss_ignored_pixels_count_as_background_and_gradients_flow():
    pred, target, expected = _binary_case()
    ignored = target.clone()
    ignored[0, 0, 0] = 255
    pred.requires_grad_(True)
    loss = HuasdorffDisstanceLoss()(pred, ignored)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_both_spellings_are_registered_and_compute_the_same():
    pred, target, expected = _binary_case()
    for name in ("HuasdorffDisstanceLoss", "HausdorffDistanceLoss"):
        loss = MODELS.build(dict(type=name))
        assert loss.loss_name == "loss_huasdorff_disstance"
        assert loss(pred, target).item() == pytest.approx(expected, rel=1e-5)
    assert issubclass(HausdorffDistanceLoss, HuasdorffDisstanceLoss)


def test_hausdorff_loss_rejects_bad_class_weight_and_pixel_weights():
    pred, target, _ = _binary_case()
    with pytest.raises(ValueError, match="class_weight has 3 entries for 2 classes"):
        HuasdorffDisstanceLoss(class_weight=[1.0, 1.0, 1.0])(pred, target)
    with pytest.raises(ValueError, match="no per-pixel weight"):
        HuasdorffDisstanceLoss()(pred, target, weight=torch.ones(1, 1, 3))


def test_silog_loss_hand_computed():
    e = math.e
    # d = log(target) - log(pred) = [1, 0] on the valid pixels; the third pixel (target 0) is left out.
    pred = torch.tensor([[1.0, e, 5.0]])
    target = torch.tensor([[e, e, 0.0]])
    expected = math.sqrt(0.5 - 0.5 * 0.5**2)
    assert SiLogLoss()(pred, target).item() == pytest.approx(expected, rel=1e-5)
    # A sample without valid pixels gives 0; per-sample weights and reductions apply over the batch.
    pred2 = torch.cat([pred, torch.ones(1, 3)])
    target2 = torch.cat([target, torch.zeros(1, 3)])
    torch.testing.assert_close(SiLogLoss(reduction="none")(pred2, target2), torch.tensor([expected, 0.0]))
    weight = torch.tensor([3.0, 1.0])
    assert SiLogLoss(loss_weight=2.0)(pred2, target2, weight=weight).item() == pytest.approx(
        2.0 * 3.0 * expected / 2, rel=1e-5)
    assert SiLogLoss()(pred2, target2, reduction_override="sum").item() == pytest.approx(expected, rel=1e-5)
    assert SiLogLoss()(pred2, target2, avg_factor=4.0).item() == pytest.approx(expected / 4.0, rel=1e-5)


def test_silog_loss_is_scale_invariant_and_needs_matching_shapes():
    target = torch.tensor([[1.0, 2.0, 4.0, 3.0]])
    pred = torch.tensor([[1.5, 2.5, 3.0, 3.5]])
    # pred = 2 * target: every d is -log 2, so the loss is sqrt(log(2)^2 - log(2)^2 / 2) whatever the depths.
    assert SiLogLoss()(2.0 * target, target).item() == pytest.approx(math.log(2.0) / math.sqrt(2.0), rel=1e-5)
    assert SiLogLoss()(pred, target).item() > 0
    with pytest.raises(ValueError, match="differ in shape"):
        SiLogLoss()(pred, target[:, :3])
