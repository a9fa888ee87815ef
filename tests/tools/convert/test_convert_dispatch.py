"""dataset-convert dispatcher: every converter registers a sub-command; options reach convert()."""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pytest

from seglab.tools import convert


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    convert.add_parser(parser.add_subparsers(dest="command"))
    return parser


def test_every_converter_has_the_interface() -> None:
    assert len(convert.CONVERTERS) >= 9
    for name in convert.CONVERTERS:
        module = convert.get_converter(name)
        assert module.NAME == name and callable(module.convert) and callable(module.add_arguments)
    with pytest.raises(ValueError, match="potsdam"):
        convert.get_converter("potsdm")


def test_cli_runs_a_converter_with_its_options(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "src"
    src.mkdir()
    img = np.zeros((4, 6, 3), np.uint8)
    cv2.imwrite(str(src / "top_potsdam_6_7_RGB.tif"), img)
    cv2.imwrite(str(src / "top_potsdam_6_7_label_noBoundary.tif"), np.full((4, 6, 3), 255, np.uint8))
    args = _parser().parse_args(["dataset-convert", "potsdam", str(src), str(tmp_path / "out"),
                                 "--clip-size", "4", "--stride", "2"])
    assert args.func(args) == 0
    assert "train: 2" in capsys.readouterr().out
    names = sorted(p.name for p in (tmp_path / "out/ann_dir/train").iterdir())
    assert names == ["6_7_0_0_4_4.png", "6_7_2_0_6_4.png"]
    assert (cv2.imread(str(tmp_path / "out/ann_dir/train" / names[0]), cv2.IMREAD_UNCHANGED) == 1).all()
