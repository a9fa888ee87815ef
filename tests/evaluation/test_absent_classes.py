"""IoUMetric tables say which classes the means leave out (nan = absent) without changing MMSeg's numbers."""
from __future__ import annotations

import logging

import numpy as np
import torch

from seglab.evaluation.metrics.iou_metric import IoUMetric, absent_classes_note, format_cell
from seglab.structures import SegDataSample


def evaluate(gt: list[int], pred: list[int], classes: list[str], **kw) -> IoUMetric:
    metric = IoUMetric(**kw)
    metric.dataset_meta = dict(classes=classes)
    sample = SegDataSample(gt_sem_seg=torch.tensor([[gt]]), pred_sem_seg=torch.tensor([[pred]]))
    metric.process(None, [sample])
    metric.results = metric.evaluate(1)
    return metric


def test_class_absent_everywhere_is_named_and_the_mean_says_over_how_many() -> None:
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())
    logger = logging.getLogger("seglab")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        metric = evaluate([0, 0, 0, 0], [0, 0, 0, 0], ["background", "cell"])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert metric.results["mIoU"] == 100.0  # MMSeg's nan-mean stays the number
    assert np.isnan(metric.per_class_results["IoU"][1])
    assert metric.absent_note == "mIoU 100.00, mAcc 100.00 over 1 of 2 classes; 1 class absent from ground truth " \
                                 "and predictions: cell"
    table = next(r for r in records if "per class results" in r)
    assert "| cell       | nan (absent) | nan (absent) |" in table and metric.absent_note in table


def test_predicted_but_unlabelled_class_is_reported_separately() -> None:
    metric = evaluate([0, 0, 1, 1], [0, 2, 1, 1], ["a", "b", "c"], iou_metrics=["mIoU", "mDice"])
    # c: predicted once, never labelled -> IoU 0 (counted), Acc nan (left out of mAcc)
    assert metric.per_class_results["IoU"][2] == 0.0 and np.isnan(metric.per_class_results["Acc"][2])
    assert metric.results["mIoU"] == round((50 + 100 + 0) / 3, 2)
    assert metric.absent_note == "mAcc 75.00 over 2 of 3 classes; 1 class absent from ground truth but " \
                                 "predicted (IoU 0): c"


def test_no_note_when_every_class_is_present() -> None:
    assert evaluate([0, 1], [0, 1], ["a", "b"]).absent_note is None
    assert absent_classes_note(np.eye(2), ["a", "b"], {"mIoU": 100.0}, {"IoU": [1.0, 1.0]}) is None


def test_nan_to_num_keeps_the_absence_note_but_counts_every_class() -> None:
    metric = evaluate([0, 0], [0, 0], ["background", "cell", "debris"], nan_to_num=0)
    assert metric.results["mIoU"] == round(100 / 3, 2)
    assert metric.absent_note == "2 classes absent from ground truth and predictions: cell, debris"


def test_format_cell() -> None:
    assert format_cell(87.254) == "87.25" and format_cell(float("nan")) == "nan (absent)"
