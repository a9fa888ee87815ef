"""IoUMetric's one-bincount confusion matrix: equal to the plain per-class formula on both code paths."""

from __future__ import annotations

import pytest
import torch

from seglab.evaluation import IoUMetric
from seglab.evaluation.metrics.iou_metric import confusion_counts_checked, confusion_counts_on_device
from seglab.structures import SegDataSample


def plain_confusion(pred: torch.Tensor, gt: torch.Tensor, k: int, ignore_index: int) -> torch.Tensor:
    """conf[i, j] = #pixels with gt == i and pred == j, gt != ignore_index (the definition, one cell at a time)."""
    keep = gt != ignore_index
    return torch.tensor([[int(((gt == i) & (pred == j) & keep).sum()) for j in range(k)] for i in range(k)])


def random_labels(seed: int, k: int, n: int, ignore_index: int, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    gt = torch.randint(0, k, (n,), generator=gen)
    gt[torch.rand(n, generator=gen) < 0.2] = ignore_index
    pred = torch.randint(0, k, (n,), generator=gen)
    return pred.to(dtype), gt.to(dtype if ignore_index >= 0 else torch.int64)


@pytest.mark.parametrize("counts", [confusion_counts_checked, lambda *a: confusion_counts_on_device(*a)[0]],
                         ids=["checked", "on_device"])
@pytest.mark.parametrize(("k", "ignore_index", "dtype"), [(19, 255, torch.int64), (5, 255, torch.uint8),
                                                          (4, 2, torch.int64), (3, -1, torch.int64),
                                                          (150, 65535, torch.int32)])
def test_counts_equal_the_plain_formula(counts, k: int, ignore_index: int, dtype: torch.dtype):
    pred, gt = random_labels(k, k, 2000, ignore_index, dtype)
    got = counts(pred, gt, k, ignore_index)
    assert got.dtype == torch.int64
    assert torch.equal(got, plain_confusion(pred.long(), gt.long(), k, ignore_index))


def test_out_of_range_labels():
    pred, gt = torch.tensor([0, 1, 2, 7]), torch.tensor([0, 9, 255, 1])
    with pytest.raises(ValueError, match=r"ground-truth labels \[9\]"):
        confusion_counts_checked(pred.clamp(max=2), gt, 3, 255)
    with pytest.raises(ValueError, match=r"predicted labels \[7\]"):
        confusion_counts_checked(pred, gt.clamp(max=2), 3, 255)
    _, bad = confusion_counts_on_device(pred, gt, 3, 255)
    assert int(bad) == 2  # gt 9 and pred 7; the ignored pixel is not counted


def samples(seed: int, n: int, k: int) -> list[SegDataSample]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        h, w = 9 + i, 13
        gt = torch.randint(0, k, (1, h, w), generator=gen)
        gt[:, :2] = 255
        out.append(SegDataSample(pred_sem_seg=torch.randint(0, k, (1, h, w), generator=gen), gt_sem_seg=gt))
    return out


def make_metric(k: int) -> IoUMetric:
    metric = IoUMetric(iou_metrics=["mIoU", "mDice", "mFscore"])
    metric.dataset_meta = dict(classes=[f"c{i}" for i in range(k)])
    return metric


def test_a_batch_gives_the_per_sample_result():
    batch = samples(0, 4, 5)
    one_call, per_sample = make_metric(5), make_metric(5)
    one_call.process({}, batch)
    for s in batch:
        per_sample.process({}, [s])
    assert torch.equal(one_call.confusion, per_sample.confusion)
    want = sum(plain_confusion(s.pred_sem_seg.data, s.gt_sem_seg.data, 5, 255) for s in batch)
    assert torch.equal(one_call.confusion, want)
    assert one_call.evaluate(4) == per_sample.evaluate(4)


def test_device_path_reports_bad_labels_at_evaluate(monkeypatch):
    """The GPU path (forced here on the CPU) gives the same matrix and raises on bad labels once, in evaluate."""
    batch = samples(1, 3, 5)
    host = make_metric(5)
    host.process({}, batch)
    monkeypatch.setattr(IoUMetric, "_checks_on_host", staticmethod(lambda device: False))
    device = make_metric(5)
    device.process({}, batch)
    assert torch.equal(device.confusion, host.confusion)
    assert device.evaluate(3) == host.evaluate(3)
    bad = SegDataSample(pred_sem_seg=torch.tensor([[[0, 7]]]), gt_sem_seg=torch.tensor([[[9, 1]]]))
    device.process({}, batch + [bad])  # no error yet: nothing is read back during process
    with pytest.raises(ValueError, match="2 pixels"):
        device.evaluate(4)
    assert device.confusion is None  # reset, ready for the next evaluation


def test_mixed_label_dtypes():
    """Predictions as int64 (argmax) against uint8 ground truth (PackSegInputs), and the other way round."""
    pred, gt = random_labels(3, 7, 500, 255, torch.int64)
    want = plain_confusion(pred, gt, 7, 255)
    assert torch.equal(confusion_counts_checked(pred, gt.to(torch.uint8), 7, 255), want)
    assert torch.equal(confusion_counts_checked(pred.to(torch.uint8), gt, 7, 255), want)
