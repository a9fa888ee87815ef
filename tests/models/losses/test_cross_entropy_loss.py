"""CrossEntropyLoss: hand-computed values, ignore_index semantics, avg_non_ignore, gradients."""
import math

import pytest
import torch
import torch.nn.functional as F

from seglab.models.losses import CrossEntropyLoss
from seglab.registry import ConfigError


def test_hand_computed_two_pixel_value():
    # Logits (0, log 3) give p(class 1) = 3/4; labels [1, 255]: the ignored pixel still counts in the mean.
    logits = torch.tensor([[0.0, math.log(3.0)], [5.0, -5.0]]).t().reshape(1, 2, 1, 2)
    label = torch.tensor([[[1, 255]]])
    assert CrossEntropyLoss()(logits, label, ignore_index=255).item() == pytest.approx(-math.log(0.75) / 2)
    assert CrossEntropyLoss(avg_non_ignore=True)(logits, label, ignore_index=255).item() == pytest.approx(
        -math.log(0.75))


def test_avg_non_ignore_equals_torch_cross_entropy():
    torch.manual_seed(0)
    logits, label = torch.randn(2, 5, 6, 7), torch.randint(0, 5, (2, 6, 7))
    label[:, :2] = 255
    ours = CrossEntropyLoss(avg_non_ignore=True)(logits, label, ignore_index=255)
    assert torch.allclose(ours, F.cross_entropy(logits, label, ignore_index=255))
    weight = [0.2, 1.0, 3.0, 0.5, 1.0]
    ours = CrossEntropyLoss(avg_non_ignore=True, class_weight=weight)(logits, label, ignore_index=255)
    assert torch.allclose(ours, F.cross_entropy(logits, label, weight=torch.tensor(weight), ignore_index=255))


def test_ignored_pixels_get_no_gradient():
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    label = torch.randint(0, 3, (1, 4, 4))
    label[0, 0] = 255
    CrossEntropyLoss(loss_weight=2.0)(logits, label, ignore_index=255).backward()
    assert (logits.grad[0, :, 0] == 0).all() and (logits.grad[0, :, 1:] != 0).any()


def test_pixel_weight_and_reductions():
    torch.manual_seed(0)
    logits, label = torch.randn(1, 3, 2, 2), torch.randint(0, 3, (1, 2, 2))
    per_pixel = CrossEntropyLoss(reduction="none")(logits, label, ignore_index=255)
    assert per_pixel.shape == (1, 2, 2)
    weight = torch.tensor([[[1.0, 0.0], [2.0, 0.5]]])
    assert torch.allclose(CrossEntropyLoss()(logits, label, weight=weight, ignore_index=255),
                          (per_pixel * weight).sum() / 4)
    assert torch.allclose(CrossEntropyLoss(reduction="sum")(logits, label, ignore_index=255), per_pixel.sum())


def test_sigmoid_binary_ignores_pixels_and_checks_labels():
    logits = torch.tensor([[[[0.0, 2.0, -1.0]]]])
    label = torch.tensor([[[1, 0, 255]]])
    loss = CrossEntropyLoss(use_sigmoid=True, avg_non_ignore=True)(logits, label, ignore_index=255)
    expected = (F.softplus(torch.tensor(-0.0)) + F.softplus(torch.tensor(2.0))) / 2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="labels in"):
        CrossEntropyLoss(use_sigmoid=True)(logits, torch.tensor([[[2, 0, 1]]]), ignore_index=255)


def test_loss_name_and_config_errors():
    assert CrossEntropyLoss(loss_name="loss_x").loss_name == "loss_x"
    with pytest.raises(ConfigError, match="use_sigmoid and use_mask"):
        CrossEntropyLoss(use_sigmoid=True, use_mask=True)
    with pytest.raises(ConfigError, match="reduction"):
        CrossEntropyLoss(reduction="avg")


def test_class_weight_from_npy_file(tmp_path):
    import numpy as np

    path = tmp_path / "w.npy"
    np.save(path, np.array([1.0, 2.0]))
    assert CrossEntropyLoss(class_weight=str(path)).class_weight == [1.0, 2.0]
    with pytest.raises(ConfigError, match="does not exist"):
        CrossEntropyLoss(class_weight=str(tmp_path / "missing.npy"))
