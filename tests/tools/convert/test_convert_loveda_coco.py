"""LoveDA (copy into img_dir/ann_dir) and COCO-Stuff 164k (id renumbering 0..170, 255 kept)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from seglab.tools.convert import coco_stuff164k, loveda


def _png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def test_loveda_zips(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    mask = np.array([[0, 1], [6, 7]], np.uint8)
    for split in ("Train", "Val"):
        with zipfile.ZipFile(src / f"{split}.zip", "w") as z:
            for area, n in (("Rural", 0), ("Urban", 1)):
                z.writestr(f"{split}/{area}/images_png/{n}.png", _png(np.full((2, 2, 3), n, np.uint8)))
                z.writestr(f"{split}/{area}/masks_png/{n}.png", _png(mask))
    out = tmp_path / "out"
    assert loveda.convert(str(src), str(out)) == {"train": 2, "val": 2}
    assert sorted(p.name for p in (out / "img_dir/train").iterdir()) == ["0.png", "1.png"]
    assert sorted(p.name for p in (out / "ann_dir/val").iterdir()) == ["0.png", "1.png"]
    np.testing.assert_array_equal(cv2.imread(str(out / "ann_dir/val/1.png"), cv2.IMREAD_UNCHANGED), mask)


def test_loveda_missing_split_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Train.zip"):
        loveda.convert(str(tmp_path), str(tmp_path / "out"))


def test_coco_stuff164k_mapping(tmp_path: Path) -> None:
    lut = coco_stuff164k.lookup_table()
    assert int((lut != 255).sum()) == 171 and lut[181] == 170 and lut[12] == 11 and lut[11] == 255
    raw = np.array([[0, 10, 12], [181, 255, 91]], np.uint8)
    for split in ("train2017", "val2017"):
        (tmp_path / "src/annotations" / split).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "src/annotations" / split / "000000000009.png"), raw)
    (tmp_path / "src/images").mkdir()
    assert coco_stuff164k.convert(str(tmp_path / "src"), str(tmp_path / "dst"), nproc=1) == {
        "train2017": 1, "val2017": 1}
    out = cv2.imread(str(tmp_path / "dst/annotations/val2017/000000000009_labelTrainIds.png"), cv2.IMREAD_UNCHANGED)
    # 91 -> 80: ids 11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90 (11 of them) precede it
    np.testing.assert_array_equal(out, [[0, 10, 11], [170, 255, 80]])
    assert (tmp_path / "dst/images").is_symlink()
