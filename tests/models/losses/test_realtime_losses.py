"""OhemCrossEntropy and BoundaryLoss (PIDNet/DDRNet losses): hand-computed values, MMSeg semantics."""
import math

import pytest
import torch

from seglab.models.losses import BoundaryLoss, OhemCrossEntropy


def _ohem_case() -> tuple[torch.Tensor, torch.Tensor]:
    """Five pixels of class 0 whose p(class 0) is 0.5, 0.25, 0.9, 0.8 and one ignored pixel (label 255)."""
    other = torch.tensor([0.0, math.log(3.0), math.log(1 / 9), math.log(1 / 4), 7.0])  # class-1 logit; class 0 is 0
    logits = torch.stack([torch.zeros(5), other]).reshape(1, 2, 1, 5)
    label = torch.tensor([[[0, 0, 0, 0, 255]]])
    return logits, label


def test_ohem_keeps_pixels_below_the_threshold():
    logits, label = _ohem_case()
    # Sorted probabilities (0.25, 0.5, 0.8, 0.9); min_kept=1 -> p_1 = 0.5 < thres, so the threshold is 0.7.
    value = OhemCrossEntropy(thres=0.7, min_kept=1)(logits, label)
    assert value.item() == pytest.approx((math.log(4) + math.log(2)) / 2, rel=1e-6)


def test_ohem_min_kept_raises_the_threshold():
    logits, label = _ohem_case()
    # min_kept=3 -> p_3 = 0.9 > thres: the three pixels below 0.9 count.
    value = OhemCrossEntropy(thres=0.7, min_kept=3)(logits, label)
    assert value.item() == pytest.approx((math.log(4) + math.log(2) + math.log(1.25)) / 3, rel=1e-6)


def test_ohem_class_weight_and_loss_weight_scale_the_mean():
    logits, label = _ohem_case()
    value = OhemCrossEntropy(thres=0.7, min_kept=1, class_weight=[2.0, 1.0], loss_weight=0.5)(logits, label)
    # Each kept pixel's CE is doubled (class 0), and the plain mean is taken (MMSeg), then halved.
    assert value.item() == pytest.approx((math.log(4) + math.log(2)) / 2, rel=1e-6)


def test_ohem_ignore_index_from_the_head_overrides_ignore_label():
    logits, label = _ohem_case()
    label = label.masked_fill(label == 255, 7)
    loss = OhemCrossEntropy(thres=0.7, min_kept=1)
    assert loss(logits, label, ignore_index=7).item() == pytest.approx((math.log(4) + math.log(2)) / 2, rel=1e-6)
    assert loss.loss_name == "loss_ohem"


def test_ohem_rejects_pixel_weights_and_is_zero_without_labels():
    logits, label = _ohem_case()
    with pytest.raises(ValueError, match="sampler"):
        OhemCrossEntropy()(logits, label, weight=torch.ones(1, 1, 5))
    logits.requires_grad_(True)
    value = OhemCrossEntropy()(logits, torch.full_like(label, 255))
    assert value.item() == 0.0
    value.backward()  # still connected to the graph
    assert logits.grad is not None and not logits.grad.any()


def test_boundary_loss_balances_positive_and_negative_pixels():
    logits = torch.tensor([0.0, 0.0, math.log(3.0), 9.0]).reshape(1, 1, 1, 4)
    label = torch.tensor([[[1, 0, 0, 255]]])
    # 1 boundary and 2 non-boundary pixels: weights 2/3 and 1/3, 0 for the 255 pixel; mean over 4 pixels.
    expected = (2 / 3 * math.log(2) + 1 / 3 * math.log(2) + 1 / 3 * math.log(4)) / 4
    assert BoundaryLoss()(logits, label).item() == pytest.approx(expected, rel=1e-6)
    assert BoundaryLoss(loss_weight=20.0)(logits, label).item() == pytest.approx(20 * expected, rel=1e-6)
    assert BoundaryLoss().loss_name == "loss_boundary"


def test_boundary_loss_without_boundary_pixels_is_zero():
    # MMSeg's weighting: with no positive pixel, the negatives weigh 0 too.
    logits = torch.randn(2, 1, 3, 3)
    assert BoundaryLoss()(logits, torch.zeros(2, 3, 3, dtype=torch.long)).item() == 0.0
    with pytest.raises(ValueError, match="one boundary logit channel"):
        BoundaryLoss()(torch.randn(1, 2, 3, 3), torch.zeros(1, 3, 3, dtype=torch.long))
