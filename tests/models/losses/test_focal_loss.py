"""FocalLoss: label targets agree with one-hot targets, ignore_index, C=1 binary, hand-computed value."""
import math

import pytest
import torch

from seglab.models.losses import FocalLoss
from seglab.registry import ConfigError


def test_label_targets_equal_onehot_targets_without_ignored_pixels():
    torch.manual_seed(0)
    pred = torch.randn(2, 4, 3, 5)
    label = torch.randint(0, 4, (2, 3, 5))
    onehot = torch.nn.functional.one_hot(label, 4).permute(0, 3, 1, 2)
    loss = FocalLoss(gamma=1.5, alpha=[0.2, 0.4, 0.6, 0.8], class_weight=[1.0, 2.0, 0.5, 1.5])
    assert torch.allclose(loss(pred, label), loss(pred, onehot))
    none = loss(pred, label, reduction_override="none")
    assert none.shape == pred.shape and torch.allclose(none.mean(), loss(pred, label))


def test_ignored_pixels_have_zero_loss_but_count_in_mean():
    torch.manual_seed(0)
    pred = torch.randn(1, 3, 2, 2, requires_grad=True)
    label = torch.tensor([[[0, 1], [255, 2]]])
    none = FocalLoss()(pred, label, reduction_override="none")
    assert (none[0, :, 1, 0] == 0).all() and (none[0, :, 0, 0] > 0).all()
    mean = FocalLoss()(pred, label)
    assert torch.allclose(mean, none.sum() / 12)
    mean.backward()
    assert (pred.grad[0, :, 1, 0] == 0).all()


def test_hand_computed_single_logit():
    # One positive pixel with logit 0: p = 0.5, loss = alpha * (1 - p)^gamma * log 2.
    loss = FocalLoss(gamma=2.0, alpha=0.25)(torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, dtype=torch.long))
    assert loss.item() == pytest.approx(0.25 * 0.25 * math.log(2.0))
    # Label 0 with C=1 is a negative: (1 - alpha) * p^gamma * log 2.
    loss = FocalLoss(gamma=2.0, alpha=0.25)(torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, dtype=torch.long))
    assert loss.item() == pytest.approx(0.75 * 0.25 * math.log(2.0))


def test_pixel_weight_from_a_sampler_broadcasts_over_classes():
    torch.manual_seed(0)
    pred, label = torch.randn(2, 3, 2, 2), torch.randint(0, 3, (2, 2, 2))
    weight = torch.rand(2, 2, 2)
    none = FocalLoss()(pred, label, reduction_override="none")
    assert torch.allclose(FocalLoss()(pred, label, weight=weight), (none * weight[:, None]).mean())


def test_config_errors():
    with pytest.raises(ConfigError, match="sigmoid"):
        FocalLoss(use_sigmoid=False)
    with pytest.raises(ConfigError, match="class_weight"):
        FocalLoss(class_weight="w.npy")
