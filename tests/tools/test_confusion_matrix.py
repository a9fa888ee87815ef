"""seglab confusion-matrix: counts from label PNGs against the dataset's ground truth, CSV + PNG."""
from __future__ import annotations

import csv
import os

import cv2
import numpy as np
import pytest

from seglab.cli import main
from seglab.tools.confusion_matrix import accumulate_confusion


def test_accumulate_equals_hand_count():
    gt = np.array([[0, 0, 1], [1, 2, 255]])
    pred = np.array([[0, 1, 1], [2, 2, 0]])
    # gt 0: pred 0, 1; gt 1: pred 1, 2; gt 2: pred 2; 255 ignored
    expected = np.array([[1, 1, 0], [0, 1, 1], [0, 0, 1]])
    np.testing.assert_array_equal(accumulate_confusion([(gt, pred)], 3), expected)
    np.testing.assert_array_equal(accumulate_confusion([(gt, pred), (gt, pred)], 3), 2 * expected)
    with pytest.raises(ValueError, match="predicted label 3"):
        accumulate_confusion([(gt, np.full_like(pred, 3))], 3)


def test_cli_csv_equals_hand_matrix(tmp_path, capsys):
    import _tiny_seg

    config, _ = _tiny_seg.write_setup(str(tmp_path))
    from seglab.tools._common import build_dataset, load_config, split_dataset_cfgs

    dataset = build_dataset(split_dataset_cfgs(load_config(config), "test")[0], pipeline=[dict(type="LoadAnnotations")])
    preds = tmp_path / "preds"
    preds.mkdir()
    expected = np.zeros((5, 5), np.int64)
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        gt = cv2.imread(info["seg_map_path"], cv2.IMREAD_UNCHANGED).astype(np.int64)
        pred = gt.copy()
        pred[:, :8] = 4  # the left 8 columns are predicted 'stripes'
        for c in range(5):  # by hand: the untouched pixels on the diagonal, the left strip in column 4
            expected[c, c] += int((gt[:, 8:] == c).sum())
            expected[c, 4] += int((gt[:, :8] == c).sum())
        cv2.imwrite(str(preds / (os.path.splitext(os.path.basename(info["img_path"]))[0] + ".png")),
                    pred.astype(np.uint8))
    out = tmp_path / "cm"
    assert main(["confusion-matrix", config, str(preds), "--out", str(out)]) == 0
    with open(out / "confusion_matrix.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["gt \\ pred", "background", "circle", "rectangle", "triangle", "stripes"]
    np.testing.assert_array_equal(np.array([[int(v) for v in r[1:]] for r in rows[1:]]), expected)
    assert cv2.imread(str(out / "confusion_matrix.png")) is not None
    assert "4 images" in capsys.readouterr().out
    # `seglab test --out` on a reduce_zero_label dataset writes label + 1: --original-ids shifts back
    shifted = tmp_path / "shifted"
    shifted.mkdir()
    for f in preds.iterdir():
        cv2.imwrite(str(shifted / f.name), cv2.imread(str(f), cv2.IMREAD_UNCHANGED) + 1)
    assert main(["confusion-matrix", config, str(shifted), "--out", str(tmp_path / "cm2"), "--original-ids"]) == 0
    assert (tmp_path / "cm2" / "confusion_matrix.csv").read_text() == (out / "confusion_matrix.csv").read_text()


def test_cli_names_a_missing_prediction(tmp_path):
    import _tiny_seg

    config, _ = _tiny_seg.write_setup(str(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no prediction for .*seglab test"):
        main(["confusion-matrix", config, str(tmp_path / "empty")])
