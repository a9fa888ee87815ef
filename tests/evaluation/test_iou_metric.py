"""IoUMetric: hand-computed cases, ignore_index, absent classes, accumulation, numpy parity, DDP reduce."""

from __future__ import annotations

import logging
import os

import cv2
import numpy as np
import pytest
import torch

from seglab.evaluation import IoUMetric
from seglab.registry import METRICS, ConfigError
from seglab.structures import SegDataSample

# gt rows: class 0 -> pred [1, 1, 0]; class 1 -> [0, 2, 0]; class 2 -> [1, 0, 1]  (confusion matrix)
GT = torch.tensor([[0, 0, 1], [1, 2, 2]])
PRED = torch.tensor([[0, 1, 1], [1, 2, 0]])


def sample(pred: torch.Tensor, gt: torch.Tensor, **meta) -> SegDataSample:
    return SegDataSample(metainfo=meta, pred_sem_seg=pred[None], gt_sem_seg=gt[None])


def make_metric(num_classes: int = 3, **kwargs) -> IoUMetric:
    metric = IoUMetric(**kwargs)
    metric.dataset_meta = dict(classes=[f"c{i}" for i in range(num_classes)])
    return metric


def run(metric: IoUMetric, pairs) -> dict:
    for pred, gt in pairs:
        metric.process({}, [sample(pred, gt)])
    return metric.evaluate(len(pairs))


def test_hand_computed_all_metrics():
    metric = make_metric(iou_metrics=["mIoU", "mDice", "mFscore"])
    res = run(metric, [(PRED, GT)])
    # intersect [1,2,1], label [2,2,2], pred [2,3,1], union [3,3,2]
    assert list(res) == ["aAcc", "mIoU", "mAcc", "mDice", "mFscore", "mPrecision", "mRecall"]
    assert res["aAcc"] == 66.67
    assert res["mIoU"] == 50.0  # (1/3 + 2/3 + 1/2) / 3
    assert res["mAcc"] == 66.67  # (1/2 + 1 + 1/2) / 3
    assert res["mDice"] == 65.56  # (2/4 + 4/5 + 2/3) / 3
    assert res["mPrecision"] == 72.22  # (1/2 + 2/3 + 1) / 3
    assert res["mRecall"] == 66.67
    assert res["mFscore"] == 65.56  # beta=1 -> Dice
    table = metric.per_class_results
    assert table["Class"] == ["c0", "c1", "c2"]
    assert table["IoU"] == [33.33, 66.67, 50.0]


def test_default_keys_match_mmseg():
    assert list(run(make_metric(), [(PRED, GT)])) == ["aAcc", "mIoU", "mAcc"]
    assert list(run(make_metric(iou_metrics=["mDice"]), [(PRED, GT)])) == ["aAcc", "mDice", "mAcc"]


def test_fscore_beta():
    res = run(make_metric(iou_metrics=["mFscore"], beta=2), [(PRED, GT)])
    # F2 = 5PR / (4P + R): [0.5, 10/11, 5/9]
    assert res["mFscore"] == pytest.approx(round((0.5 + 10 / 11 + 5 / 9) / 3 * 100, 2))
    assert res["mFscore"] == 65.49


def test_ignore_index_pixels_are_excluded():
    gt = GT.clone()
    gt[0, 0] = 255  # a correct pixel becomes ignored
    gt[1, 2] = 255  # a wrong pixel becomes ignored
    res = run(make_metric(), [(PRED, gt)])
    # conf: c0 -> [0,1,0]; c1 -> [0,2,0]; c2 -> [0,0,1]
    assert res["aAcc"] == 75.0
    assert res["mIoU"] == round((0 + 2 / 3 + 1) / 3 * 100, 2)
    other = run(make_metric(ignore_index=2), [(PRED, GT)])
    assert other["aAcc"] == 75.0  # class 2 pixels ignored: 3 correct of 4


def test_absent_class_is_nan_and_excluded_or_replaced(caplog):
    with caplog.at_level(logging.INFO, logger="seglab"):
        res = run(make_metric(num_classes=4), [(PRED, GT)])
    assert res["mIoU"] == 50.0  # class 3 absent everywhere -> NaN, skipped by nanmean
    assert "per class results" in caplog.text and "c3" in caplog.text and "nan" in caplog.text
    res0 = run(make_metric(num_classes=4, nan_to_num=0), [(PRED, GT)])
    assert res0["mIoU"] == 37.5  # (1/3 + 2/3 + 1/2 + 0) / 4


def test_class_only_in_prediction():
    gt = torch.tensor([[0, 0], [0, 0]])
    pred = torch.tensor([[0, 0], [1, 1]])
    metric = make_metric(num_classes=2, iou_metrics=["mIoU", "mFscore"])
    res = run(metric, [(pred, gt)])
    assert metric.per_class_results["IoU"] == [50.0, 0.0]
    assert np.isnan(metric.per_class_results["Acc"][1])  # no gt pixels of class 1
    assert res["mIoU"] == 25.0 and res["mAcc"] == 50.0  # class 0: 2 of 4 gt pixels


def test_batches_accumulate_and_evaluate_resets():
    g = torch.Generator().manual_seed(0)
    pairs = [(torch.randint(0, 4, (5, 7), generator=g), torch.randint(0, 4, (5, 7), generator=g)) for _ in range(3)]
    metric = make_metric(num_classes=4, iou_metrics=["mIoU", "mDice", "mFscore"])
    metric.process({}, [sample(p, t) for p, t in pairs[:2]])
    metric.process({}, [sample(*pairs[2])])
    split = metric.evaluate(3)
    assert metric.confusion is None and metric.num_samples == 0
    joined = run(metric, [(torch.cat([p for p, _ in pairs]), torch.cat([t for _, t in pairs]))])
    assert split == joined


def test_mmseg_style_dict_samples_and_prefix():
    metric = make_metric(prefix="val")
    metric.process({}, [dict(pred_sem_seg=dict(data=PRED[None]), gt_sem_seg=dict(data=GT[None]))])
    res = metric.evaluate(1)
    assert res == {"val/aAcc": 66.67, "val/mIoU": 50.0, "val/mAcc": 66.67}


def reference(preds, gts, k, ignore_index=255, beta=1.0):
    """Per-class counting with masks, as an independent implementation."""
    inter, area_p, area_l = np.zeros(k), np.zeros(k), np.zeros(k)
    for p, g in zip(preds, gts):
        valid = g != ignore_index
        p, g = p[valid], g[valid]
        for c in range(k):
            inter[c] += np.sum((p == c) & (g == c))
            area_p[c] += np.sum(p == c)
            area_l[c] += np.sum(g == c)
    with np.errstate(all="ignore"):
        iou = inter / (area_p + area_l - inter)
        acc = inter / area_l
        dice = 2 * inter / (area_p + area_l)
        prec = inter / area_p
        f = (1 + beta**2) * prec * acc / (beta**2 * prec + acc)
        out = {
            "aAcc": inter.sum() / area_l.sum(),
            "mIoU": np.nanmean(iou),
            "mAcc": np.nanmean(acc),
            "mDice": np.nanmean(dice),
            "mFscore": np.nanmean(f),
            "mPrecision": np.nanmean(prec),
            "mRecall": np.nanmean(acc),
        }
    return {key: round(float(v) * 100, 2) for key, v in out.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parity_with_numpy_reference(seed):
    rng = np.random.default_rng(seed)
    k = 6
    preds = [rng.integers(0, k - 1, (13, 17)) for _ in range(4)]  # class k-1 never predicted
    gts = [rng.integers(0, k, (13, 17)) for _ in range(4)]
    for g in gts:
        g[rng.random(g.shape) < 0.2] = 255
    beta = float(rng.uniform(0.5, 2))
    metric = make_metric(num_classes=k, iou_metrics=["mIoU", "mDice", "mFscore"], beta=beta)
    got = run(metric, [(torch.from_numpy(p), torch.from_numpy(g)) for p, g in zip(preds, gts)])
    want = reference(preds, gts, k, beta=beta)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=0.011), key


def test_errors_are_explicit():
    with pytest.raises(ConfigError, match="mAUC"):
        IoUMetric(iou_metrics=["mAUC"])
    with pytest.raises(ConfigError, match="dataset_meta"):
        IoUMetric().process({}, [sample(PRED, GT)])
    with pytest.raises(ValueError, match=r"\[7\]"):
        make_metric().process({}, [sample(PRED, torch.full_like(GT, 7))])
    with pytest.raises(ValueError, match="shape"):
        make_metric().process({}, [sample(PRED, GT[:, :2])])


def test_registry_build_and_output_dir(tmp_path):
    metric = METRICS.build(dict(type="IoUMetric", format_only=True, output_dir=str(tmp_path / "out")))
    metric.dataset_meta = dict(classes=["a", "b", "c"])
    s = SegDataSample(metainfo=dict(img_path="/x/img_01.jpg", reduce_zero_label=True), pred_sem_seg=PRED[None])
    metric.process({}, [s])
    assert metric.evaluate(1) == {}
    written = cv2.imread(str(tmp_path / "out" / "img_01.png"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint8
    np.testing.assert_array_equal(written, PRED.numpy() + 1)  # reduce_zero_label undone


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    metric = make_metric()
    metric.process({}, [sample(PRED[rank : rank + 1], GT[rank : rank + 1])])  # one row each
    res = metric.evaluate(2)
    if rank == 0:
        torch.save(res, out)
    dist.destroy_process_group()


def test_evaluate_all_reduces_across_ranks(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path / "res.pt")
    mp.spawn(_ddp_worker, args=(2, port, out), nprocs=2, join=True)
    assert torch.load(out) == run(make_metric(), [(PRED, GT)])


@pytest.mark.parametrize(
    ("nan_to_num", "expected"),
    [
        (
            None,
            {
                "aAcc": 23.38,
                "mIoU": 11.79,
                "mAcc": 22.69,
                "mDice": 20.48,
                "mFscore": 26.58,
                "mPrecision": 23.46,
                "mRecall": 22.69,
            },
        ),
        (
            0,
            {
                "aAcc": 23.38,
                "mIoU": 9.83,
                "mAcc": 18.91,
                "mDice": 17.07,
                "mFscore": 17.72,
                "mPrecision": 15.64,
                "mRecall": 18.91,
            },
        ),
    ],
)
def test_matches_mmseg_reference_numbers(nan_to_num, expected):
    """Expected values were produced once by MMSegmentation 1.2.2's IoUMetric on these exact inputs."""
    rng = np.random.default_rng(3)
    k = 5
    preds = [rng.integers(0, k - 1, (11, 13)) for _ in range(3)]
    gts = [rng.integers(0, k, (11, 13)) for _ in range(3)]
    for g in gts:
        g[rng.random(g.shape) < 0.2] = 255
    metric = make_metric(num_classes=k + 1, iou_metrics=["mIoU", "mDice", "mFscore"], beta=1.5, nan_to_num=nan_to_num)
    got = run(metric, [(torch.from_numpy(p), torch.from_numpy(g)) for p, g in zip(preds, gts)])
    assert got == expected


def test_format_only_writes_pngs_that_read_back_to_the_labels_without_ground_truth(tmp_path):
    """MMSeg's IoUMetric(format_only=True, output_dir=...): index PNGs named after the images, no metric, no GT needed."""
    preds = {"a": torch.tensor([[0, 2, 1], [2, 2, 0]]), "b": torch.tensor([[1, 1, 1], [0, 2, 2]])}
    for reduce_zero_label, shift in ((False, 0), (True, 1)):
        out = tmp_path / f"out_{reduce_zero_label}"
        metric = make_metric(format_only=True, output_dir=str(out))
        samples = [SegDataSample(metainfo=dict(img_path=f"/data/img_dir/{k}.jpg", reduce_zero_label=reduce_zero_label),
                                 pred_sem_seg=p[None]) for k, p in preds.items()]  # no gt_sem_seg: a test split
        metric.process({}, samples)
        assert metric.evaluate(2) == {} and metric.confusion is None
        assert sorted(os.listdir(out)) == ["a.png", "b.png"]
        for k, p in preds.items():
            written = cv2.imread(str(out / f"{k}.png"), cv2.IMREAD_UNCHANGED)
            assert written.dtype == np.uint8
            np.testing.assert_array_equal(written, p.numpy() + shift)  # ADE20K-style ids 1..150 with reduce_zero_label
    # More than 256 classes do not fit uint8: 16-bit PNGs keep the labels.
    metric = make_metric(num_classes=300, format_only=True, output_dir=str(tmp_path / "wide"))
    wide = torch.tensor([[299, 0], [256, 7]])
    metric.process({}, [SegDataSample(metainfo=dict(img_path="w.png"), pred_sem_seg=wide[None])])
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "wide" / "w.png"), cv2.IMREAD_UNCHANGED), wide.numpy())
    with pytest.raises(ConfigError, match="format_only=True .* needs? output_dir|give it output_dir"):
        IoUMetric(format_only=True)
