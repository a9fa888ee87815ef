"""CityscapesMetric: submission PNGs hold labelIds; the official evaluation equals IoUMetric on trainIds (classes)
and on categories; ``seglab test --out`` keeps the Cityscapes submission files."""
from __future__ import annotations

import os.path as osp
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from _optional import require

from seglab.evaluation import CityscapesMetric, IoUMetric
from seglab.evaluation.metrics.cityscapes_metric import CITYSCAPES_TRAIN_TO_LABEL_ID, train_ids_to_label_ids
from seglab.evaluation.metrics.iou_metric import metrics_from_confusion
from seglab.registry import ConfigError
from seglab.structures import SegDataSample

# labelId -> category index of Cityscapes' 7 evaluated categories (flat, construction, object, nature, sky,
# human, vehicle), for the 19 evaluated classes in trainId order.
CATEGORY_OF_TRAIN_ID = [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 5, 6, 6, 6, 6, 6, 6]
VOID_LABEL_IDS = [0, 1, 4, 5, 6, 9, 10, 14, 15, 16, 18, 29, 30]  # ignoreInEval labelIds
CITIES = {"aachen": 2, "bremen": 1}
SHAPE = (24, 40)


def label_ids_to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    lut = np.full(256, 255, dtype=np.uint8)
    lut[list(CITYSCAPES_TRAIN_TO_LABEL_ID)] = np.arange(19)
    return lut[label_ids]


def write_cityscapes(root: Path, seed: int = 0) -> list[tuple[str, str, np.ndarray]]:
    """Cityscapes layout (leftImg8bit, gtFine labelIds / instanceIds / labelTrainIds); returns (img, seg, pred)."""
    rng = np.random.default_rng(seed)
    samples = []
    for city, n in CITIES.items():
        for i in range(n):
            stem = f"{city}_{i:06d}_000019"
            img_dir, gt_dir = root / "leftImg8bit" / "val" / city, root / "gtFine" / "val" / city
            img_dir.mkdir(parents=True, exist_ok=True)
            gt_dir.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(img_dir / f"{stem}_leftImg8bit.png"), rng.integers(0, 255, (*SHAPE, 3), dtype=np.uint8))
            label_ids = np.array(CITYSCAPES_TRAIN_TO_LABEL_ID, dtype=np.uint8)[rng.integers(0, 19, SHAPE)]
            void = rng.random(SHAPE) < 0.15
            label_ids[void] = rng.choice(VOID_LABEL_IDS, size=int(void.sum()))
            label_ids[:, :3] = 1  # ego vehicle: void
            instance = label_ids.astype(np.int32)
            cars = label_ids == 26
            instance[cars] = 26000 + (np.arange(SHAPE[1])[None].repeat(SHAPE[0], 0)[cars] // 10)  # 4 car instances
            train_ids = label_ids_to_train_ids(label_ids)
            # Predictions: right on about 60% of the pixels (ground-truth trainId), random trainIds elsewhere.
            pred = np.where((rng.random(SHAPE) < 0.6) & (train_ids != 255), train_ids, rng.integers(0, 19, SHAPE))
            cv2.imwrite(str(gt_dir / f"{stem}_gtFine_labelIds.png"), label_ids)
            cv2.imwrite(str(gt_dir / f"{stem}_gtFine_instanceIds.png"), instance.astype(np.uint16))
            cv2.imwrite(str(gt_dir / f"{stem}_gtFine_labelTrainIds.png"), train_ids)
            samples.append((str(img_dir / f"{stem}_leftImg8bit.png"), str(gt_dir / f"{stem}_gtFine_labelTrainIds.png"),
                            pred.astype(np.int64)))
    return samples


def data_sample(img: str, seg: str, pred: np.ndarray) -> SegDataSample:
    gt = cv2.imread(seg, cv2.IMREAD_UNCHANGED).astype(np.int64)
    return SegDataSample(metainfo=dict(img_path=img, seg_map_path=seg), pred_sem_seg=torch.from_numpy(pred)[None],
                         gt_sem_seg=torch.from_numpy(gt)[None])


def test_label_id_mapping_and_format_only_pngs_read_back(tmp_path):
    assert train_ids_to_label_ids(np.arange(19)).tolist() == [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26,
                                                              27, 28, 31, 32, 33]
    samples = write_cityscapes(tmp_path / "cs")
    out = tmp_path / "submit"
    metric = CityscapesMetric(output_dir=str(out), format_only=True, keep_results=True)  # no cityscapesscripts needed
    metric.process({}, [SegDataSample(metainfo=dict(img_path=img), pred_sem_seg=torch.from_numpy(p)[None])
                        for img, _, p in samples])
    assert metric.evaluate(len(samples)) == {}
    for img, _, pred in samples:
        png = out / (osp.splitext(osp.basename(img))[0] + ".png")  # the benchmark's <city>_<seq>_<frame>_leftImg8bit.png
        written = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        assert written.dtype == np.uint8 and written.ndim == 2
        np.testing.assert_array_equal(label_ids_to_train_ids(written), pred)
    with pytest.raises(ConfigError, match="keep_results=True"):
        CityscapesMetric(output_dir=str(out), format_only=True)


def test_official_evaluation_equals_iou_metric_on_train_ids_and_categories(tmp_path):
    require("cityscapesscripts")
    samples = write_cityscapes(tmp_path / "cs")
    metric = CityscapesMetric(output_dir=str(tmp_path / "out"))
    classes = IoUMetric()
    classes.dataset_meta = dict(classes=[str(i) for i in range(19)])
    categories = IoUMetric()
    categories.dataset_meta = dict(classes=[str(i) for i in range(7)])
    to_category = torch.tensor(CATEGORY_OF_TRAIN_ID + [255] * (256 - 19))
    for img, seg, pred in samples:
        s = data_sample(img, seg, pred)
        metric.process({}, [s])
        classes.process({}, [s])
        categories.process({}, [SegDataSample(pred_sem_seg=to_category[s.pred_sem_seg.data],
                                              gt_sem_seg=to_category[s.gt_sem_seg.data])])
    result = metric.evaluate(len(samples))
    assert sorted(result) == ["averageScoreCategories", "averageScoreClasses", "averageScoreInstCategories",
                              "averageScoreInstClasses"]
    _, per_class = metrics_from_confusion(classes.confusion)
    official = np.array([v["IoU"] for v in metric.class_results.values()])
    np.testing.assert_allclose(official, per_class["IoU"], rtol=0, atol=1e-12)
    assert result["averageScoreClasses"] == pytest.approx(np.nanmean(per_class["IoU"]), abs=1e-12)
    _, per_category = metrics_from_confusion(categories.confusion)
    assert result["averageScoreCategories"] == pytest.approx(np.nanmean(per_category["IoU"]), abs=1e-12)
    assert 0.3 < result["averageScoreClasses"] < 0.9 and 0 < result["averageScoreInstClasses"] < 1
    assert not (tmp_path / "out").exists()  # keep_results=False: the PNGs it wrote are gone
    # The next validation round writes and scores again (same predictions, same result).
    metric.process({}, [data_sample(*s) for s in samples])
    assert metric.evaluate(len(samples)) == result


def test_missing_official_ground_truth_is_named(tmp_path):
    require("cityscapesscripts")
    samples = write_cityscapes(tmp_path / "cs")
    Path(samples[0][1].replace("labelTrainIds", "instanceIds")).unlink()
    metric = CityscapesMetric(output_dir=str(tmp_path / "out"))
    metric.process({}, [data_sample(*samples[0])])
    with pytest.raises(FileNotFoundError, match="aachen_000000_000019_gtFine_instanceIds.png"):
        metric.evaluate(1)


TEST_CONFIG = """
_base_ = ['{repo}/configs/_base_/default_runtime.py']
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.7, 116.3, 103.5], std=[58.4, 57.1, 57.4],
                           bgr_to_rgb=True, size_divisor=8),
    backbone=dict(type='_tiny_seg.TinyBackbone', channels=8),
    decode_head=dict(type='FCNHead', in_channels=8, channels=8, num_convs=1, concat_input=False,
                     num_classes=19, norm_cfg=dict(type='BN'), align_corners=False),
    test_cfg=dict(mode='whole'))
test_dataloader = dict(batch_size=1, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CityscapesDataset', data_root='{data}',
                 data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
                 pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='PackSegInputs')]))
test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_cfg = dict(type='TestLoop')
"""


def test_seglab_test_out_keeps_the_submission_pngs(tmp_path, capsys):
    require("cityscapesscripts")
    from seglab.apis import init_model
    from seglab.cli import main

    samples = write_cityscapes(tmp_path / "cs")
    base = tmp_path / "tiny_cityscapes.py"
    repo = Path(__file__).parents[2]
    base.write_text(TEST_CONFIG.replace("{repo}", str(repo)).replace("{data}", str(tmp_path / "cs")))
    # docs/evaluation.md's two-line switch from IoUMetric to the official evaluation
    config = tmp_path / "tiny_cityscapes_official.py"
    config.write_text(f"_base_ = ['{base}']\ntest_evaluator = dict(_delete_=True, type='CityscapesMetric', "
                      f"output_dir='{tmp_path}/cityscapes_pngs')\n")
    assert "test_evaluator = dict(_delete_=True, type='CityscapesMetric'" in (repo / "docs" / "evaluation.md").read_text()
    torch.manual_seed(0)
    checkpoint = tmp_path / "tiny.pth"
    torch.save(dict(state_dict=init_model(str(config)).state_dict()), checkpoint)
    out = tmp_path / "submission"
    assert main(["test", str(config), str(checkpoint), "--out", str(out), "--work-dir", str(tmp_path / "work"),
                 "--device", "cpu"]) == 0
    assert "averageScoreCategories" in capsys.readouterr().out
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(osp.basename(img) for img, _, _ in samples)
    ids = np.unique(np.concatenate([np.unique(cv2.imread(str(out / n), cv2.IMREAD_UNCHANGED)) for n in written]))
    assert set(ids.tolist()) <= set(CITYSCAPES_TRAIN_TO_LABEL_ID)  # labelIds, not trainIds
