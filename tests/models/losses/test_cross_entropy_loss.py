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


@pytest.mark.parametrize("class_weight", [None, [0.5, 2.0, 1.0, 0.7]])
def test_channels_last_logits_give_the_same_loss_and_gradients(class_weight):
    """A channels-last map runs as (pixels, classes) rows: same per-pixel losses, mean and gradients."""
    from seglab.models.losses.cross_entropy_loss import cross_entropy

    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 4, 5, 7, generator=g, dtype=torch.float64)
    label = torch.randint(0, 4, (2, 5, 7), generator=g)
    label[0, 1, :4] = 255
    cw = None if class_weight is None else torch.tensor(class_weight, dtype=torch.float64)
    results = []
    for layout in (torch.contiguous_format, torch.channels_last):
        x = logits.clone(memory_format=layout).requires_grad_()
        per_pixel = cross_entropy(x, label, class_weight=cw, reduction="none", ignore_index=255)
        mean = cross_entropy(x, label, class_weight=cw, ignore_index=255, avg_non_ignore=True)
        mean.backward()
        results.append((per_pixel, mean, x.grad))
    assert logits.contiguous(memory_format=torch.channels_last).is_contiguous() is False  # the row path was taken
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert results[0][0].shape == (2, 5, 7) and float(results[0][0][0, 1, 0]) == 0.0


def test_decode_head_losses_same_in_either_logit_layout(monkeypatch):
    """BaseDecodeHead.loss_by_feat makes CPU logits channels-last before the resize; the losses do not change."""
    from seglab.models.decode_heads import FCNHead
    from seglab.structures import PixelData, SegDataSample

    torch.manual_seed(0)
    head = FCNHead(in_channels=4, channels=4, num_classes=16, num_convs=1, dropout_ratio=0.0)
    logits = torch.randn(2, 16, 4, 6, requires_grad=True)
    samples = []
    for _ in range(2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 16, (1, 16, 24)))
        samples.append(s)
    seen = []
    real = F.cross_entropy
    monkeypatch.setattr(F, "cross_entropy", lambda x, *a, **k: seen.append(x.dim()) or real(x, *a, **k))
    fast = head.loss_by_feat(logits, samples)
    assert seen == [2]  # (pixels, classes) rows
    monkeypatch.setattr(torch.Tensor, "contiguous", lambda self, memory_format=None: self)  # keep NCHW
    plain = head.loss_by_feat(logits, samples)
    assert seen == [2, 4]
    for key in ("loss_ce", "acc_seg"):
        torch.testing.assert_close(fast[key], plain[key], rtol=1e-6, atol=1e-6)


def test_few_classes_keep_nchw_logits(monkeypatch):
    """Below 16 classes the channels-last loss measured slower, so the logits stay NCHW."""
    from seglab.models.decode_heads import FCNHead
    from seglab.structures import PixelData, SegDataSample

    head = FCNHead(in_channels=4, channels=4, num_classes=11, num_convs=1, dropout_ratio=0.0)
    s = SegDataSample()
    s.gt_sem_seg = PixelData(data=torch.randint(0, 11, (1, 16, 24)))
    seen = []
    real = F.cross_entropy
    monkeypatch.setattr(F, "cross_entropy", lambda x, *a, **k: seen.append(x.dim()) or real(x, *a, **k))
    head.loss_by_feat(torch.randn(1, 11, 4, 6), [s])
    assert seen == [4]
