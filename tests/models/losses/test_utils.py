"""weight_reduce_loss / weighted_loss semantics."""
import pytest
import torch

from seglab.models.losses import weight_reduce_loss, weighted_loss


def test_weight_reduce_loss():
    loss = torch.tensor([1.0, 2.0, 3.0])
    weight = torch.tensor([1.0, 0.0, 1.0])
    assert weight_reduce_loss(loss, weight).item() == pytest.approx(4 / 3)
    assert weight_reduce_loss(loss, weight, avg_factor=2).item() == pytest.approx(2.0)
    assert weight_reduce_loss(loss, reduction="sum").item() == 6.0
    assert torch.equal(weight_reduce_loss(loss, weight, reduction="none"), torch.tensor([1.0, 0.0, 3.0]))
    assert weight_reduce_loss(loss * 0, avg_factor=0).item() == 0.0  # all ignored: 0, not NaN
    with pytest.raises(ValueError, match="avg_factor"):
        weight_reduce_loss(loss, avg_factor=2, reduction="sum")


def test_weighted_loss_decorator():
    @weighted_loss
    def l1(pred, target):
        return (pred - target).abs()

    pred, target = torch.tensor([0.0, 2.0, 3.0]), torch.ones(3)
    assert l1(pred, target).item() == pytest.approx(4 / 3)
    assert l1(pred, target, torch.tensor([1.0, 0.0, 1.0]), avg_factor=2).item() == pytest.approx(1.5)
