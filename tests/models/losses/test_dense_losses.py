"""Dice, Lovasz and Tversky losses: invariants beyond the MMSeg reference values."""
import pytest
import torch

from seglab.models.losses import DiceLoss, LovaszLoss, TverskyLoss
from seglab.registry import ConfigError


def perfect(label: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(label, num_classes).permute(0, 3, 1, 2).float() * 40 - 20


def test_perfect_prediction_gives_near_zero_loss():
    label = torch.randint(0, 3, (2, 6, 6), generator=torch.Generator().manual_seed(0))
    logits = perfect(label, 3)
    assert DiceLoss(use_sigmoid=False)(logits, label).item() < 1e-3
    assert LovaszLoss(reduction="none")(logits, label, ignore_index=255).item() < 1e-6
    assert TverskyLoss()(logits, label).item() < 1e-6


def test_lovasz_ignores_pixels_and_reduction_rule():
    label = torch.randint(0, 3, (1, 4, 4), generator=torch.Generator().manual_seed(0))
    logits = perfect(label, 3)
    noisy = label.clone()
    noisy[0, 0] = 255
    wrong = logits.clone()
    wrong[0, :, 0] = -wrong[0, :, 0]  # wrong only where the label is ignored
    assert LovaszLoss(reduction="none")(wrong, noisy, ignore_index=255).item() < 1e-6
    with pytest.raises(ConfigError, match="per_image"):
        LovaszLoss(per_image=False, reduction="mean")


def test_tversky_alpha_beta_must_sum_to_one_and_ignore_pixels():
    with pytest.raises(ConfigError, match="alpha \\+ beta"):
        TverskyLoss(alpha=0.5, beta=0.6)
    label = torch.randint(0, 3, (1, 4, 4), generator=torch.Generator().manual_seed(1))
    logits = perfect(label, 3)
    noisy, wrong = label.clone(), logits.clone()
    noisy[0, 1] = 255
    wrong[0, :, 1] = -wrong[0, :, 1]
    assert TverskyLoss()(wrong, noisy).item() < 1e-6


def test_dice_gradients_flow_and_weight_shape_is_checked():
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    label = torch.randint(0, 3, (2, 4, 4))
    DiceLoss()(logits, label).backward()
    assert logits.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="one per image"):
        DiceLoss()(logits, label, weight=torch.ones(2, 4, 4))
