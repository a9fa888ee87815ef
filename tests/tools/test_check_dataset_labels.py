"""check-dataset speaks up: 0/255 masks, ignore-dominated splits, empty splits, suffix hints, odd samples."""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pytest

from seglab.datasets import BaseSegDataset, FolderSegDataset
from seglab.tools import check_dataset as cd


def _write(root: Path, stem: str, mask: np.ndarray, channels: int = 3, img_suffix: str = ".png") -> None:
    (root / "img").mkdir(exist_ok=True)
    (root / "ann").mkdir(exist_ok=True)
    img = np.full(mask.shape + ((channels,) if channels > 1 else ()), 9, np.uint8)
    assert cv2.imwrite(str(root / "img" / f"{stem}{img_suffix}"), img)
    assert cv2.imwrite(str(root / "ann" / f"{stem}.png"), mask.astype(np.uint8))


def _folder(root: Path, classes=("background", "cell"), **kw) -> FolderSegDataset:
    kw.setdefault("img_suffix", ".png")
    return FolderSegDataset(img_dir=str(root / "img"), ann_dir=str(root / "ann"), classes=classes,
                            lazy_init=True, **kw)


def _check(ds) -> cd.Report:
    return cd.check_dataset(ds, workers=1, show_progress=False)


@pytest.fixture
def binary_255(tmp_path: Path) -> Path:
    for i in range(3):
        mask = np.zeros((8, 8), np.uint8)
        mask[i: i + 3, 2:6] = 255
        _write(tmp_path, f"c{i}", mask)
    return tmp_path


def test_raw_0_255_masks_fail_naming_the_fix(binary_255: Path) -> None:
    report = _check(_folder(binary_255))
    assert not report.ok and report.num_errors == 1
    text = report.format()
    assert "masks hold only {0, 255}: 255 is ignore_index" in text
    assert "label_map={255: 1}" in text and "seglab dataset-convert binary-mask" in text
    assert text.rstrip().endswith("FAILED: 1 errors found")


def test_label_map_fixes_0_255_masks(binary_255: Path) -> None:
    report = _check(_folder(binary_255, label_map={255: 1}))
    assert report.ok and report.class_pixels.tolist() == [192 - 36, 36] and report.ignore_pixels == 0


def test_cli_exit_code_for_0_255_masks(binary_255: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "cfg.py"
    cfg.write_text("train_dataloader = dict(dataset=dict(type='FolderSegDataset', img_dir=%r, ann_dir=%r, "
                   "img_suffix='.png', classes=('background', 'cell')))\n"
                   % (str(binary_255 / "img"), str(binary_255 / "ann")))
    parser = argparse.ArgumentParser()
    cd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["check-dataset", str(cfg), "--workers", "1"])
    assert args.func(args) == 1
    assert "label_map={255: 1}" in capsys.readouterr().out
    args = parser.parse_args(["check-dataset", str(cfg), "--workers", "1", "--cfg-options",
                              "train_dataloader.dataset.label_map={255:1}"])
    assert args.func(args) == 0


def test_nearly_all_ignored_fails_most_ignored_warns(tmp_path: Path) -> None:
    mask = np.full((10, 10), 255, np.uint8)
    mask[0, :5] = 0  # 5 labelled pixels of 100: 95% ignored, class 'cell' (1) and 'x' (2) absent
    mask[1, :5] = 2
    _write(tmp_path, "a", mask)
    report = _check(_folder(tmp_path, classes=("background", "cell", "x")))
    assert report.label_problems == [
        "cell has no pixels while 90.0% of the mask pixels equal ignore_index 255; check ignore_index, "
        "reduce_zero_label and label_map (a mask value that should be a class may be mapped to ignore)"]
    mask[2:4] = 2  # now 70% ignored: a warning, not an error
    _write(tmp_path, "a", mask)
    report = _check(_folder(tmp_path, classes=("background", "cell", "x")))
    assert report.ok and any("70.0% of the mask pixels" in w for w in report.warnings)


def test_empty_split_fails(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "ann").mkdir()
    (tmp_path / "split.txt").write_text("")
    ds = BaseSegDataset(data_prefix=dict(img_path=str(tmp_path / "img"), seg_map_path=str(tmp_path / "ann")),
                        ann_file=str(tmp_path / "split.txt"), metainfo=dict(classes=("a", "b")), lazy_init=True)
    report = _check(ds)
    assert not report.ok and report.num_pairs == 0
    assert report.label_problems[0].startswith("the split is empty: no image/mask pairs in")
    assert "OK" not in report.format().splitlines()[-1]


def test_masks_without_image_name_path_and_suffix(tmp_path: Path) -> None:
    _write(tmp_path, "abc", np.zeros((4, 4)), img_suffix=".png")
    report = _check(_folder(tmp_path, img_suffix=".jpg"))
    assert [Path(p).name for p in report.missing_images] == ["abc.png"]
    text = report.format()
    assert (f"looked for {tmp_path / 'img' / 'abc.jpg'} (img_suffix='.jpg'); found abc.png - set img_suffix='.png'"
            in text)
    assert "the split is empty" in text


def test_empty_mask_and_odd_channels_are_warnings(tmp_path: Path) -> None:
    _write(tmp_path, "a", np.array([[0, 1], [1, 0]]))
    _write(tmp_path, "b", np.array([[1, 0], [0, 1]]))
    _write(tmp_path, "gray", np.array([[0, 1], [1, 1]]), channels=1)
    _write(tmp_path, "void", np.full((2, 2), 255))
    report = _check(_folder(tmp_path))
    assert report.ok
    assert "void: the mask has no labelled pixel (every pixel is ignore_index 255)" in report.warnings
    odd = [w for w in report.warnings if "channel count" in w]
    assert odd == ["1 images have a channel count other than the usual 3: gray (1 channels); the loader converts "
                   "them (color_type) or training fails on a channel mismatch"]
    assert "warning: void: the mask has no labelled pixel" in report.format()


def test_value_outside_classes_names_the_fix(tmp_path: Path) -> None:
    _write(tmp_path, "a", np.array([[0, 1], [7, 0]]))
    report = _check(_folder(tmp_path))
    assert not report.ok and "[7] are outside 0..1" in report.bad_labels[0]
    assert "label_map={value: class id}" in report.bad_labels[0]


def test_colour_masks_of_an_rgb_label_dataset_are_read_with_its_palette(tmp_path: Path) -> None:
    mask = np.zeros((4, 4, 3), np.uint8)
    mask[:2] = (0, 0, 255)  # BGR on disk: red
    (tmp_path / "img").mkdir()
    (tmp_path / "ann").mkdir()
    cv2.imwrite(str(tmp_path / "img" / "a.png"), np.zeros((4, 4, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "ann" / "a.png"), mask)
    report = _check(_folder(tmp_path, palette=[[0, 0, 0], [255, 0, 0]], rgb_label=True))
    assert report.ok and report.class_pixels.tolist() == [8, 8]
