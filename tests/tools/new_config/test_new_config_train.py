"""new-config end to end: the generated config trains and tests as written, and every class is learnt.

The grayscale 0/255 case is the walk-through of docs/own_data.md: test_own_data_doc.py."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from _optional import require
from own_data_folders import make_fields, make_scenes, per_class_iou

from seglab.cli import main

ITERS = "train_cfg.max_iters=20"  # only the iteration count is overridden; the config is used as written


def _new_config_train_test(root: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.chdir(root)
    assert main(["new-config", "images", "masks", "--out", "own.py", "--device", "cpu"]) == 0
    text = (root / "own.py").read_text()
    assert main(["check-dataset", "own.py", "--workers", "1"]) == 0
    assert main(["train", "own.py", "--cfg-options", ITERS, "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["test", "own.py", "work_dirs/own/iter_20.pth", "--device", "cpu"]) == 0
    return dict(text=text, iou=per_class_iou(capsys.readouterr().out))


def _assert_every_class_learnt(iou: dict, classes: list[str]) -> None:
    assert sorted(iou) == sorted(classes)
    for name, value in iou.items():
        assert not math.isnan(value) and value > 0, f"class {name}: IoU {value}"


def test_rgb_colour_coded_masks(tmp_path: Path, capsys, monkeypatch) -> None:
    res = _new_config_train_test(make_scenes(tmp_path), capsys, monkeypatch)
    assert "rgb_label=True" in res["text"] and "palette = [[0, 0, 0], [0, 255, 0], [255, 0, 0]]" in res["text"]
    _assert_every_class_learnt(res["iou"], ["background", "class_1", "class_2"])


def test_four_band_tiff(tmp_path: Path, capsys, monkeypatch) -> None:
    require("tifffile")
    res = _new_config_train_test(make_fields(tmp_path), capsys, monkeypatch)
    assert "LoadSingleRSImageFromFile" in res["text"] and "in_channels=4," in res["text"]
    _assert_every_class_learnt(res["iou"], ["background", "foreground"])
