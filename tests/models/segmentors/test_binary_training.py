"""Binary segmentation end to end: a 0/1 dataset trains a tiny EncoderDecoder with a sigmoid head
(out_channels=1 + threshold, CrossEntropyLoss(use_sigmoid=True)) and with a 2-class softmax head;
IoUMetric reports two classes for both."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

import seglab.models  # noqa: F401 - registration
from seglab.datasets import BaseSegDataset, pseudo_collate
from seglab.evaluation.metrics.iou_metric import IoUMetric
from seglab.registry import MODELS


class TinyBackbone(nn.Module):
    """conv(3->8)-ReLU -> conv(8->16, s2)-ReLU; one feature map at stride 2."""

    out_channels = [16]

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (torch.relu(self.conv2(torch.relu(self.conv1(x)))),)


@pytest.fixture(scope="module")
def binary_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 images 24x24: a bright rectangle (label 1) on a dark noisy background (label 0)."""
    root = tmp_path_factory.mktemp("binary")
    rng = np.random.default_rng(0)
    for i in range(6):
        mask = np.zeros((24, 24), np.uint8)
        y, x = rng.integers(0, 12, 2)
        mask[y:y + 10, x:x + 12] = 1
        img = (rng.integers(0, 60, (24, 24, 3)) + mask[..., None] * 150).astype(np.uint8)
        (root / "img").mkdir(exist_ok=True)
        (root / "ann").mkdir(exist_ok=True)
        cv2.imwrite(str(root / "img" / f"{i}.png"), img)
        cv2.imwrite(str(root / "ann" / f"{i}.png"), mask)
    return root


def _dataset(root: Path, train: bool) -> BaseSegDataset:
    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations")]
    if train:
        pipeline.append(dict(type="RandomFlip", prob=0.5))
    pipeline.append(dict(type="PackSegInputs"))
    return BaseSegDataset(data_root=str(root), data_prefix=dict(img_path="img", seg_map_path="ann"),
                          img_suffix=".png", metainfo=dict(classes=("background", "object"),
                                                           palette=[[0, 0, 0], [255, 255, 255]]),
                          pipeline=pipeline)


@pytest.mark.parametrize("sigmoid", [True, False], ids=["sigmoid-1ch", "softmax-2ch"])
def test_binary_dataset_trains_and_evaluates_two_classes(binary_root: Path, sigmoid: bool) -> None:
    torch.manual_seed(0)
    head = dict(type="FCNHead", in_channels=16, channels=16, num_convs=1, concat_input=False, num_classes=2,
                loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=sigmoid))
    if sigmoid:
        head.update(out_channels=1, threshold=0.5)
    model = MODELS.build(dict(
        type="EncoderDecoder", backbone=dict(type=TinyBackbone), decode_head=head,
        data_preprocessor=dict(type="SegDataPreProcessor", mean=[100.0] * 3, std=[60.0] * 3, size=(24, 24)),
        test_cfg=dict(mode="whole")))
    assert model.decode_head.conv_seg.out_channels == (1 if sigmoid else 2)
    train = _dataset(binary_root, train=True)
    optim = torch.optim.Adam(model.parameters(), lr=0.02)
    first = last = None
    model.train()
    for step in range(40):
        batch = pseudo_collate([train[(2 * step + k) % len(train)] for k in range(2)])
        data = model.data_preprocessor(batch, training=True)
        loss, log_vars = model.parse_losses(model(**data, mode="loss"))
        optim.zero_grad()
        loss.backward()
        optim.step()
        first = log_vars["loss"] if first is None else first
        last = log_vars["loss"]
    assert last < 0.5 * first

    model.eval()
    val = _dataset(binary_root, train=False)
    metric = IoUMetric(iou_metrics=["mIoU", "mDice"])
    metric.dataset_meta = val.metainfo
    with torch.no_grad():
        for i in range(len(val)):
            batch = pseudo_collate([val[i]])
            outputs = model.test_step(batch)
            pred = outputs[0].pred_sem_seg.data
            assert pred.shape == (1, 24, 24) and set(pred.unique().tolist()) <= {0, 1}
            if sigmoid:  # seg_logits hold the foreground probability; the threshold decides
                probs = outputs[0].seg_logits.data
                assert probs.shape == (1, 24, 24) and bool(((probs >= 0) & (probs <= 1)).all())
                assert torch.equal(pred.bool(), probs > 0.5)
            metric.process(batch, outputs)
    results = metric.evaluate(len(val))
    table = metric.per_class_results
    assert list(table["Class"]) == ["background", "object"] and len(table["IoU"]) == 2
    assert results["mIoU"] > 80 and results["mDice"] > 85
