"""check-dataset: every kind of problem is reported with the file name; a clean split gives exact numbers."""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pytest

from seglab.datasets import BaseSegDataset
from seglab.tools import check_dataset as cd

CLASSES = ("a", "b", "c")


def _write(root: Path, stem: str, label: np.ndarray, img_hw: tuple[int, int] | None = None) -> None:
    (root / "img").mkdir(exist_ok=True)
    (root / "ann").mkdir(exist_ok=True)
    h, w = img_hw or label.shape
    assert cv2.imwrite(str(root / "img" / f"{stem}.png"), np.full((h, w, 3), 7, np.uint8))
    assert cv2.imwrite(str(root / "ann" / f"{stem}.png"), label.astype(np.uint8))


def _dataset(root: Path, **kw) -> BaseSegDataset:
    return BaseSegDataset(data_root=str(root), data_prefix=dict(img_path="img", seg_map_path="ann"),
                          img_suffix=".png", metainfo=dict(classes=CLASSES), lazy_init=True, **kw)


@pytest.fixture
def clean_root(tmp_path: Path) -> Path:
    # x: 4x4 -> 8 px of class 0, 4 of class 1, 4 ignore; y: 4x4 -> 12 px of 0, 4 px of 2
    x = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [255, 255, 255, 255]])
    y = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [2, 2, 2, 2]])
    _write(tmp_path, "x", x)
    _write(tmp_path, "y", y)
    return tmp_path


def test_clean_dataset_histogram_and_weights(clean_root: Path, tmp_path: Path) -> None:
    report = cd.check_dataset(_dataset(clean_root), workers=2, out_dir=str(tmp_path / "out"), show_progress=False)
    assert report.ok and report.num_pairs == 2
    assert report.class_pixels.tolist() == [20, 4, 4]
    assert report.ignore_pixels == 4
    # presence: class 0 in both images (12 + 16 labelled px), class 1 only in x (12), class 2 only in y (16)
    assert report.presence_pixels.tolist() == [28, 12, 16]
    f = np.array([20 / 28, 4 / 12, 4 / 16])
    assert report.median_frequency_weights == pytest.approx((np.median(f) / f).tolist(), abs=1e-4)
    p = np.array([20, 4, 4]) / 28
    assert report.log_inverse_weights == pytest.approx((1 / np.log(1.02 + p)).tolist(), abs=1e-4)
    assert report.image_sizes == {(4, 4): 2} and report.channels == {3: 2} and report.dtypes == {"uint8": 2}
    chart = cv2.imread(report.chart_path)
    assert chart is not None and chart.shape[0] == 20 * 3 + 20
    text = report.format()
    assert "class_weight=[" in text and "median-frequency" in text and "OK: no errors" in text


def test_reduce_zero_label_applied_as_loader(clean_root: Path) -> None:
    # 0 -> 255, 1 -> 0, 2 -> 1, 255 stays 255
    report = cd.check_dataset(_dataset(clean_root, reduce_zero_label=True), workers=1, show_progress=False)
    assert report.ok
    assert report.class_pixels.tolist() == [4, 4, 0]
    assert report.ignore_pixels == 24
    assert report.median_frequency_weights[2] == 0.0


def test_every_problem_reported(tmp_path: Path) -> None:
    good = np.zeros((4, 4), np.uint8)
    _write(tmp_path, "good", good)
    _write(tmp_path, "nomask", good)
    (tmp_path / "ann" / "nomask.png").unlink()
    _write(tmp_path, "orphan", good)
    (tmp_path / "img" / "orphan.png").unlink()
    _write(tmp_path, "corrupt", good)
    (tmp_path / "img" / "corrupt.png").write_bytes(b"not a png at all")
    _write(tmp_path, "small", good, img_hw=(3, 4))
    bad = good.copy()
    bad[0, 0] = 7
    _write(tmp_path, "outofrange", bad)
    report = cd.check_dataset(_dataset(tmp_path), workers=3, show_progress=False)
    assert not report.ok and report.num_errors == 5
    assert [Path(p).name for p in report.missing_masks] == ["nomask.png"]
    assert [Path(p).name for p in report.missing_images] == ["orphan.png"]
    assert len(report.unreadable) == 1 and "corrupt.png" in report.unreadable[0]
    assert len(report.size_mismatches) == 1 and "small.png" in report.size_mismatches[0]
    assert "3x4" in report.size_mismatches[0]
    assert len(report.bad_labels) == 1 and "outofrange.png" in report.bad_labels[0]
    assert "[7]" in report.bad_labels[0]
    assert "FAILED: 5 errors" in report.format()


def test_16bit_multichannel_image_summary(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "ann").mkdir()
    cv2.imwrite(str(tmp_path / "img" / "m.png"), np.full((5, 6, 4), 1000, np.uint16))
    cv2.imwrite(str(tmp_path / "ann" / "m.png"), np.ones((5, 6), np.uint8))
    report = cd.check_dataset(_dataset(tmp_path), workers=1, show_progress=False)
    assert report.ok
    assert report.channels == {4: 1} and report.dtypes == {"uint16": 1} and report.image_sizes == {(5, 6): 1}


def _cli(config: Path, *extra: str) -> int:
    parser = argparse.ArgumentParser()
    cd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["check-dataset", str(config), *extra])
    return args.func(args)


def _config(tmp_path: Path, root: Path) -> Path:
    cfg = tmp_path / "cfg.py"
    cfg.write_text(
        "ds = dict(type='BaseSegDataset', data_root=%r, img_suffix='.png',\n"
        "          data_prefix=dict(img_path='img', seg_map_path='ann'), metainfo=dict(classes=%r),\n"
        "          pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')])\n"
        "train_dataloader = dict(batch_size=1, dataset=dict(type='RepeatDataset', times=2, dataset=ds))\n"
        % (str(root), CLASSES)
    )
    return cfg


def test_cli_exit_codes(clean_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = _config(tmp_path, clean_root)
    assert _cli(cfg, "--workers", "1", "--out-dir", str(tmp_path / "o")) == 0
    out = capsys.readouterr().out
    assert "checked 2 image/mask pairs" in out and (tmp_path / "o" / "class_histogram.png").is_file()
    (clean_root / "ann" / "y.png").unlink()
    assert _cli(cfg) == 1
    assert "y.png" in capsys.readouterr().out
    # --cfg-options reach the dataset: a wrong image suffix finds no images, hence every mask is an orphan
    assert _cli(cfg, "--cfg-options", "train_dataloader.dataset.dataset.img_suffix=.jpg") == 1
