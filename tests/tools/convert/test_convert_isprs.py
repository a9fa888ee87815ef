"""Potsdam / Vaihingen: tiling with stride, ISPRS colours -> indices, patch names and splits."""
from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from seglab.tools.convert import potsdam, vaihingen
from seglab.tools.convert._isprs import PALETTE
from seglab.tools.convert._utils import tile_boxes


def test_tile_boxes_cover_and_shift_last() -> None:
    assert tile_boxes(10, 10, 4, 4) == [(x, y, x + 4, y + 4) for y in (0, 4, 6) for x in (0, 4, 6)]
    assert tile_boxes(8, 6, 4, 2) == [(x, y, x + 4, y + 4) for y in (0, 2, 4) for x in (0, 2)]
    assert tile_boxes(3, 3, 4, 4) == [(0, 0, 3, 3)]


def _tif(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".tif", img)
    assert ok
    return buf.tobytes()


def _tile() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 6x8 tile: label index i in column i (cols 0..6), col 7 an unknown colour (-> 0)."""
    idx = np.tile(np.array([0, 1, 2, 3, 4, 5, 6, 0], np.uint8), (6, 1))
    rgb = np.array(PALETTE, np.uint8)[idx]
    rgb[:, 7] = (10, 20, 30)
    img = np.random.default_rng(0).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    return img, rgb[:, :, ::-1].copy(), idx  # label stored as cv2 BGR, like any colour TIFF


@pytest.mark.parametrize("stride", [4, 2])
def test_potsdam_tiles(tmp_path: Path, stride: int) -> None:
    img, label_bgr, idx = _tile()
    src = tmp_path / "src"
    src.mkdir()
    with zipfile.ZipFile(src / "2_Ortho_RGB.zip", "w") as z:
        z.writestr("2_Ortho_RGB/top_potsdam_2_10_RGB.tif", _tif(img))
        z.writestr("2_Ortho_RGB/top_potsdam_2_13_RGB.tif", _tif(img))
    with zipfile.ZipFile(src / "5_Labels_all_noBoundary.zip", "w") as z:
        z.writestr("top_potsdam_2_10_label_noBoundary.tif", _tif(label_bgr))
        z.writestr("top_potsdam_2_13_label_noBoundary.tif", _tif(label_bgr))
    out = tmp_path / "out"
    counts = potsdam.convert(str(src), str(out), clip_size=4, stride=stride)
    xs = [0, 4] if stride == 4 else [0, 2, 4]
    names = sorted(f"2_10_{x}_{y}_{x + 4}_{y + 4}.png" for y in [0, 2] for x in xs)
    assert counts == {"train": len(names), "val": len(names)}
    assert sorted(p.name for p in (out / "ann_dir/train").iterdir()) == names
    assert sorted(p.name for p in (out / "img_dir/train").iterdir()) == names
    assert (out / "img_dir/val" / names[0].replace("2_10", "2_13")).is_file()
    patch = cv2.imread(str(out / "ann_dir/train/2_10_4_2_8_6.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(patch, idx[2:6, 4:8])
    assert patch[:, 3].tolist() == [0, 0, 0, 0]  # unknown colour -> 0 (ignored by reduce_zero_label)
    np.testing.assert_array_equal(cv2.imread(str(out / "img_dir/train/2_10_4_2_8_6.png")), img[2:6, 4:8])


def test_vaihingen_pairs_only(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    img, label_bgr, idx = _tile()
    src = tmp_path / "src"
    (src / "top").mkdir(parents=True)
    (src / "gts_for_participants").mkdir()
    cv2.imwrite(str(src / "top/top_mosaic_09cm_area1.tif"), img)
    cv2.imwrite(str(src / "top/top_mosaic_09cm_area2.tif"), img)
    cv2.imwrite(str(src / "top/top_mosaic_09cm_area9.tif"), img)  # no label: skipped
    cv2.imwrite(str(src / "gts_for_participants/top_mosaic_09cm_area1.tif"), label_bgr)  # not an image
    cv2.imwrite(str(src / "top_mosaic_09cm_area1_noBoundary.tif"), label_bgr)
    cv2.imwrite(str(src / "top_mosaic_09cm_area2_noBoundary.tif"), label_bgr)
    out = tmp_path / "out"
    assert vaihingen.convert(str(src), str(out), clip_size=8, stride=8) == {"train": 1, "val": 1}
    assert "area9" in capsys.readouterr().out
    assert [p.name for p in (out / "ann_dir/train").iterdir()] == ["area1_0_0_8_6.png"]
    assert [p.name for p in (out / "img_dir/val").iterdir()] == ["area2_0_0_8_6.png"]
    np.testing.assert_array_equal(cv2.imread(str(out / "ann_dir/val/area2_0_0_8_6.png"), cv2.IMREAD_UNCHANGED), idx)
