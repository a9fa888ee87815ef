"""dataset-convert binary-mask and palette-mask: your own masks -> index PNGs, exact values."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from seglab.tools import convert


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    convert.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["dataset-convert", *argv])
    return args.func(args)


def _read(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_binary_mask_any_nonzero_and_threshold(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "src" / "sub").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "src" / "a.png"), np.array([[0, 255], [1, 128]], np.uint8))
    cv2.imwrite(str(tmp_path / "src" / "sub" / "b.bmp"), np.zeros((2, 2, 3), np.uint8))
    assert _run("binary-mask", str(tmp_path / "src"), str(tmp_path / "any")) == 0
    assert _read(tmp_path / "any" / "a.png").tolist() == [[0, 1], [1, 1]]
    assert _read(tmp_path / "any" / "sub" / "b.png").tolist() == [[0, 0], [0, 0]]
    assert "masks: 2, foreground_pixels: 3, pixels: 8, empty_masks: 1" in capsys.readouterr().out
    assert _run("binary-mask", str(tmp_path / "src"), str(tmp_path / "t"), "--threshold", "127") == 0
    assert _read(tmp_path / "t" / "a.png").tolist() == [[0, 1], [0, 1]]


def test_palette_mask_auto_writes_indices_and_palette(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    rgb = np.array([[[0, 0, 0], [255, 0, 0]], [[0, 255, 0], [255, 0, 0]]], np.uint8)
    cv2.imwrite(str(tmp_path / "src" / "a.png"), rgb[..., ::-1])  # OpenCV writes BGR
    assert _run("palette-mask", str(tmp_path / "src"), str(tmp_path / "out")) == 0
    meta = json.loads((tmp_path / "out" / "palette.json").read_text())
    # black first, then RGB order: (0, 255, 0) < (255, 0, 0)
    assert meta == dict(classes=["background", "class_1", "class_2"], palette=[[0, 0, 0], [0, 255, 0], [255, 0, 0]])
    assert _read(tmp_path / "out" / "a.png").tolist() == [[0, 2], [1, 2]]


def test_palette_mask_from_json_and_unknown_colour(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    rgb = np.array([[[10, 20, 30], [0, 0, 0]]], np.uint8)
    cv2.imwrite(str(tmp_path / "src" / "a.png"), rgb[..., ::-1])
    spec = tmp_path / "p.json"
    spec.write_text(json.dumps(dict(classes=["road", "sky"], palette=[[10, 20, 30], [0, 0, 0]])))
    assert _run("palette-mask", str(tmp_path / "src"), str(tmp_path / "out"), "--palette", str(spec)) == 0
    assert _read(tmp_path / "out" / "a.png").tolist() == [[0, 1]]
    assert json.loads((tmp_path / "out" / "palette.json").read_text())["classes"] == ["road", "sky"]
    spec.write_text(json.dumps([[10, 20, 30]]))
    with pytest.raises(ValueError, match=r"a.png: 1 colour\(s\) not in color_map \(RGB\): \(0, 0, 0\)"):
        _run("palette-mask", str(tmp_path / "src"), str(tmp_path / "out2"), "--palette", str(spec))
