"""Cityscapes polygons -> train ids: exact pixels, file names and split lists."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from seglab.tools.convert import cityscapes


def test_id_table_matches_the_19_classes() -> None:
    train = sorted((tid, name) for name, _, tid in cityscapes.LABELS if tid != 255)
    assert [t for t, _ in train] == list(range(19))
    assert train[0][1] == "road" and train[13][1] == "car" and train[18][1] == "bicycle"
    assert cityscapes.ID_TO_TRAIN_ID[26] == 13 and cityscapes.ID_TO_TRAIN_ID[9] == 255


def test_polygons_to_label_png(tmp_path: Path) -> None:
    ann = dict(imgHeight=6, imgWidth=8, objects=[
        dict(label="road", polygon=[[0, 3], [7, 3], [7, 5], [0, 5]]),          # rows 3..5 -> 0
        dict(label="car", polygon=[[1, 4], [2, 4], [2, 5], [1, 5]]),           # over the road -> 13
        dict(label="persongroup", polygon=[[6, 0], [7, 0], [7, 1], [6, 1]]),   # group -> person 11
        dict(label="license plate", polygon=[[0, 0], [1, 0], [1, 1], [0, 1]]),  # id -1: skipped
        dict(label="sky", polygon=[[3, 0], [4, 0], [4, 1], [3, 1]], deleted=1),  # deleted: skipped
    ])
    city = tmp_path / "src" / "gtFine" / "train" / "aachen"
    city.mkdir(parents=True)
    (city / "aachen_000000_000019_gtFine_polygons.json").write_text(json.dumps(ann))
    val = tmp_path / "src" / "gtFine" / "val" / "bonn"
    val.mkdir(parents=True)
    (val / "bonn_000001_000002_gtFine_polygons.json").write_text(json.dumps(dict(imgHeight=2, imgWidth=2, objects=[])))
    (tmp_path / "src" / "leftImg8bit").mkdir()
    counts = cityscapes.convert(str(tmp_path / "src"), str(tmp_path / "dst"), nproc=2)
    assert counts == {"train": 1, "val": 1, "test": 0}
    out = cv2.imread(str(tmp_path / "dst/gtFine/train/aachen/aachen_000000_000019_gtFine_labelTrainIds.png"),
                     cv2.IMREAD_UNCHANGED)
    expected = np.full((6, 8), 255, np.uint8)
    expected[3:6, :] = 0
    expected[4:6, 1:3] = 13
    expected[0:2, 6:8] = 11
    np.testing.assert_array_equal(out, expected)
    assert (tmp_path / "dst/train.txt").read_text() == "aachen/aachen_000000_000019\n"
    assert (tmp_path / "dst/val.txt").read_text() == "bonn/bonn_000001_000002\n"
    assert (tmp_path / "dst/test.txt").read_text() == ""
    assert (tmp_path / "dst/leftImg8bit").is_symlink()
