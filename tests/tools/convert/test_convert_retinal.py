"""DRIVE / STARE / CHASE_DB1 / HRF: archive layouts -> images/ and 0/1 annotations/ with MMSeg's names."""
from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

from seglab.tools.convert import chase_db1, drive, hrf, stare

VESSEL = np.zeros((4, 5), np.uint8)
VESSEL[1, 1:4] = 255


def _png(img: np.ndarray, ext: str = ".png") -> bytes:
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def _image(v: int) -> np.ndarray:
    return np.full((4, 5, 3), v, np.uint8)


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return img


def test_drive_zip(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    gif = _png(np.repeat(VESSEL[..., None], 3, 2), ".gif")
    with zipfile.ZipFile(src / "training.zip", "w") as z:
        for i in (21, 22):
            z.writestr(f"training/images/{i}_training.tif", _png(_image(i), ".tif"))
            z.writestr(f"training/1st_manual/{i}_manual1.gif", gif)
    with zipfile.ZipFile(src / "test.zip", "w") as z:
        z.writestr("test/images/01_test.tif", _png(_image(1), ".tif"))
        z.writestr("test/1st_manual/01_manual1.gif", gif)
    counts = drive.convert(str(src), str(tmp_path / "out"))
    assert counts == {"train": 2, "val": 1}
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "images/training").iterdir()) == ["21.png", "22.png"]
    assert sorted(p.name for p in (out / "annotations/training").iterdir()) == ["21_manual1.png", "22_manual1.png"]
    assert (_read(out / "images/training/22.png") == 22).all()
    np.testing.assert_array_equal(_read(out / "annotations/training/21_manual1.png"), VESSEL // 255)
    np.testing.assert_array_equal(_read(out / "annotations/validation/01_manual1.png"), VESSEL // 255)
    assert (_read(out / "images/validation/01.png") == 1).all()


def _tar_of_gz(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as t:
        for name, data in files.items():
            gz = gzip.compress(data)
            info = tarfile.TarInfo(name + ".gz")
            info.size = len(gz)
            t.addfile(info, io.BytesIO(gz))


def test_stare_tars(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    label = np.repeat(VESSEL[..., None], 3, 2)
    _tar_of_gz(src / "stare-images.tar", {f"im000{i}.ppm": _png(_image(i), ".ppm") for i in (1, 2, 3)})
    _tar_of_gz(src / "labels-ah.tar", {f"im000{i}.ah.ppm": _png(label, ".ppm") for i in (1, 2, 3)})
    _tar_of_gz(src / "labels-vk.tar", {f"im000{i}.vk.ppm": _png(label, ".ppm") for i in (1, 2, 3)})
    assert stare.convert(str(src), str(tmp_path / "out"), training_len=2) == {"train": 2, "val": 1}
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "images/training").iterdir()) == ["im0001.png", "im0002.png"]
    assert sorted(p.name for p in (out / "annotations/validation").iterdir()) == ["im0003.ah.png", "im0003.vk.png"]
    np.testing.assert_array_equal(_read(out / "annotations/training/im0002.vk.png"), VESSEL // 255)


def test_chase_db1_zip(tmp_path: Path) -> None:
    label = np.repeat(VESSEL[..., None], 3, 2)
    with zipfile.ZipFile(tmp_path / "CHASEDB1.zip", "w") as z:
        for n in ("01L", "01R"):
            z.writestr(f"Image_{n}.jpg", _png(_image(100), ".jpg"))
            z.writestr(f"Image_{n}_1stHO.png", _png(label))
            z.writestr(f"Image_{n}_2ndHO.png", _png(label))
    counts = chase_db1.convert(str(tmp_path / "CHASEDB1.zip"), str(tmp_path / "out"), training_len=3)
    assert counts == {"train": 1, "val": 1}
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "annotations/training").iterdir()) == [
        "Image_01L_1stHO.png", "Image_01L_2ndHO.png"]
    assert [p.name for p in (out / "images/validation").iterdir()] == ["Image_01R.png"]
    np.testing.assert_array_equal(_read(out / "annotations/validation/Image_01R_2ndHO.png"), VESSEL // 255)


def test_hrf_zips(tmp_path: Path) -> None:
    label = np.repeat(VESSEL[..., None], 3, 2)
    for part, tag in zip(hrf.PARTS, ("h", "g", "dr")):
        with zipfile.ZipFile(tmp_path / f"{part}.zip", "w") as z:
            for i in (1, 2):
                z.writestr(f"0{i}_{tag}.jpg", _png(_image(50), ".jpg"))
        with zipfile.ZipFile(tmp_path / f"{part}_manualsegm.zip", "w") as z:
            for i in (1, 2):
                z.writestr(f"0{i}_{tag}.tif", _png(label, ".tif"))
    assert hrf.convert(str(tmp_path), str(tmp_path / "out"), training_len=1) == {"train": 3, "val": 3}
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "images/training").iterdir()) == ["01_dr.png", "01_g.png", "01_h.png"]
    np.testing.assert_array_equal(_read(out / "annotations/validation/02_g.png"), VESSEL // 255)
