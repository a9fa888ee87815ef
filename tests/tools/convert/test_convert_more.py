"""voc_aug, coco_stuff10k, isaid, pascal_context and synapse converters on tiny synthetic inputs."""
from __future__ import annotations

import sys
import types
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from _optional import require

from seglab.tools import convert
from seglab.tools.convert import coco_stuff10k, isaid, pascal_context, synapse, voc_aug


def _read(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def _write_list(path: Path, names: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(n + "\n" for n in names))


def test_new_converters_are_registered() -> None:
    for name in ("voc_aug", "pascal_context", "isaid", "coco_stuff10k", "synapse"):
        assert convert.get_converter(name).NAME == name


# ----------------------------------------------------------------------------- VOC aug
def test_voc_aug_lists() -> None:
    trainaug, aug = voc_aug.aug_lists(["a", "b"], ["v"], sbd_train=["b", "c", "v"], sbd_val=["d"])
    assert trainaug == ["a", "b", "c", "d"] and aug == ["c", "d"]


def test_voc_aug_missing_scipy_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(ImportError, match="pip install scipy"):
        voc_aug.read_sbd_mat(str(tmp_path / "x.mat"))


def test_voc_aug_convert(tmp_path: Path) -> None:
    sio = require("scipy.io")
    sbd, devkit = tmp_path / "benchmark_RELEASE", tmp_path / "VOCdevkit"
    (sbd / "dataset/cls").mkdir(parents=True)
    mask = np.array([[0, 1, 255], [20, 15, 0]], np.uint8)
    for name in ("2008_000002", "2008_000003"):
        sio.savemat(str(sbd / "dataset/cls" / f"{name}.mat"),
                    {"GTcls": {"Segmentation": mask, "CategoriesPresent": np.array([1, 15, 20])}})
    _write_list(sbd / "dataset/train.txt", ["2008_000002"])
    _write_list(sbd / "dataset/val.txt", ["2008_000003", "2007_000001"])
    sets = devkit / "VOC2012/ImageSets/Segmentation"
    _write_list(sets / "train.txt", ["2007_000000"])
    _write_list(sets / "val.txt", ["2007_000001"])
    assert voc_aug.convert(str(sbd), str(devkit)) == {"masks": 2, "trainaug": 3, "aug": 2}
    np.testing.assert_array_equal(_read(devkit / "VOC2012/SegmentationClassAug/2008_000003.png"), mask)
    assert (sets / "trainaug.txt").read_text().split() == ["2007_000000", "2008_000002", "2008_000003"]
    assert (sets / "aug.txt").read_text().split() == ["2008_000002", "2008_000003"]


# ----------------------------------------------------------------------------- COCO-Stuff 10k
def test_coco_stuff10k_lookup_table() -> None:
    lut = coco_stuff10k.lookup_table()
    assert lut[0] == 0 and lut[11] == 11 and lut[13] == 12 and lut[92] == 81 and lut[182] == 171
    assert lut[12] == 0 and lut[91] == 0 and lut[183] == 0
    assert sorted(set(lut.tolist())) == list(range(172))


def test_coco_stuff10k_convert(tmp_path: Path) -> None:
    sio = require("scipy.io")
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "annotations").mkdir()
    raw = np.array([[0, 1, 13], [182, 92, 12]], np.uint8)
    for name in ("COCO_train2014_000000000077", "COCO_train2014_000000000078"):
        cv2.imwrite(str(src / "images" / f"{name}.jpg"), np.zeros((2, 3, 3), np.uint8))
        sio.savemat(str(src / "annotations" / f"{name}.mat"), {"S": raw.astype(np.uint16)})
    _write_list(src / "imageLists/train.txt", ["COCO_train2014_000000000077"])
    _write_list(src / "imageLists/test.txt", ["COCO_train2014_000000000078"])
    assert coco_stuff10k.convert(str(src), str(tmp_path / "dst")) == {"train2014": 1, "test2014": 1}
    out = _read(tmp_path / "dst/annotations/test2014/COCO_train2014_000000000078_labelTrainIds.png")
    np.testing.assert_array_equal(out, [[0, 1, 12], [171, 81, 0]])
    assert (tmp_path / "dst/images/train2014/COCO_train2014_000000000077.jpg").is_file()


# ----------------------------------------------------------------------------- iSAID
def _png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def test_isaid_patches_and_palette(tmp_path: Path) -> None:
    src = tmp_path / "iSAID"
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (6, 12, 3), dtype=np.uint8)  # height below the patch: padded with 0
    index = np.zeros((6, 12), np.int64)
    index[:, 6:] = 1  # ship
    index[2, 3] = 15  # harbor
    rgb = np.array(isaid.PALETTE, np.uint8)[index]
    for split in ("train", "val"):
        (src / split / "images").mkdir(parents=True)
        (src / split / "Semantic_masks").mkdir(parents=True)
        with zipfile.ZipFile(src / split / "images/part1.zip", "w") as z:
            z.writestr("images/P0001.png", _png(img))
        with zipfile.ZipFile(src / split / "Semantic_masks/images.zip", "w") as z:
            z.writestr("images/P0001_instance_color_RGB.png", _png(rgb[:, :, ::-1]))
    (src / "test/images").mkdir(parents=True)
    cv2.imwrite(str(src / "test/images/P0009.png"), img)
    counts = isaid.convert(str(src), str(tmp_path / "out"), patch_size=8, overlap=3)
    assert counts == {"train": 2, "val": 2, "test": 1}
    # x starts every 8 - 3 = 5 px: 0, then the last window shifted back to end at 12 -> 4
    names = sorted(p.name for p in (tmp_path / "out/img_dir/train").iterdir())
    assert names == ["P0001_0_8_0_8.png", "P0001_0_8_4_12.png"]
    patch = _read(tmp_path / "out/img_dir/val/P0001_0_8_4_12.png")
    np.testing.assert_array_equal(patch[:6], img[:, 4:12])
    assert (patch[6:] == 0).all()
    label = _read(tmp_path / "out/ann_dir/val/P0001_0_8_0_8_instance_color_RGB.png")
    expected = np.full((8, 8), 255, np.uint8)
    expected[:6] = index[:, :8]
    np.testing.assert_array_equal(label, expected)
    assert (tmp_path / "out/img_dir/test/P0009.png").is_file()


def test_isaid_missing_split(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train"):
        isaid.convert(str(tmp_path), str(tmp_path / "out"))


# ----------------------------------------------------------------------------- PASCAL Context
def test_pascal_context_mapping() -> None:
    raw = np.array([[0, 2, 115], [459 - 1, 33, 0]])
    np.testing.assert_array_equal(pascal_context.raw_to_label(raw), [[0, 1, 24], [59, 9, 0]])
    with pytest.raises(ValueError, match=r"img\.jpg.*\[1\]"):
        pascal_context.raw_to_label(np.array([[1, 0]]), "img.jpg")


def test_pascal_context_without_detail_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "detail", None)
    (tmp_path / "VOC2010").mkdir()
    (tmp_path / "VOC2010/trainval_merged.json").write_text("{}")
    with pytest.raises(ImportError, match="Detail API"):
        pascal_context.convert(str(tmp_path), str(tmp_path))


def test_pascal_context_with_a_stub_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    masks = {"train": {"2008_000002.jpg": np.array([[0, 2], [454, 458]])},
             "val": {"2008_000001.jpg": np.array([[9, 9], [0, 0]]), "2008_000000.jpg": np.zeros((2, 2))}}

    class Detail:  # the slice of the Detail API the converter uses
        def __init__(self, annotation: str, img_dir: str, phase: str) -> None:
            self.phase = phase

        def getImgs(self) -> list[dict]:
            return [{"file_name": n} for n in masks[self.phase]]

        def getMask(self, img: dict) -> np.ndarray:
            return masks[self.phase][img["file_name"]]

    monkeypatch.setitem(sys.modules, "detail", types.SimpleNamespace(Detail=Detail))
    devkit = tmp_path / "VOCdevkit"
    (devkit / "VOC2010/JPEGImages").mkdir(parents=True)
    (devkit / "VOC2010/trainval_merged.json").write_text("{}")
    assert pascal_context.convert(str(devkit), str(devkit)) == {"train": 1, "val": 2}
    np.testing.assert_array_equal(_read(devkit / "VOC2010/SegmentationClassContext/2008_000002.png"),
                                  [[0, 1], [58, 59]])
    sets = devkit / "VOC2010/ImageSets/SegmentationContext"
    assert (sets / "val.txt").read_text().split() == ["2008_000000", "2008_000001"]


# ----------------------------------------------------------------------------- Synapse
def test_synapse_window_and_labels() -> None:
    np.testing.assert_array_equal(synapse.window(np.array([-1000.0, -125, 75, 274.9, 275, 3000])),
                                  [0, 0, 127, 255 * 399.9 // 400, 255, 255])
    np.testing.assert_array_equal(synapse.map_labels(np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])),
                                  [0, 7, 4, 3, 2, 0, 5, 8, 1, 0, 0, 6, 0, 0])
    img = np.arange(12, dtype=np.float64).reshape(2, 3, 2) * 40 - 125  # (H, W, D)
    lab = np.zeros((2, 3, 2))
    lab[0, 0, 1] = 8
    slices = synapse.volume_to_slices(img, lab)
    assert len(slices) == 2
    np.testing.assert_array_equal(slices[1][0], synapse.window(img[:, ::-1, 1]))
    np.testing.assert_array_equal(slices[1][1], [[0, 0, 1], [0, 0, 0]])  # flipped left-right


def test_synapse_convert(tmp_path: Path) -> None:
    nib = require("nibabel")
    src = tmp_path / "Synapse"
    (src / "img").mkdir(parents=True)
    (src / "label").mkdir()
    img = np.full((4, 5, 3), 75.0)
    lab = np.zeros((4, 5, 3))
    lab[1, 0, 2] = 6
    for case in ("0001", "0002"):
        nib.save(nib.Nifti1Image(img, np.eye(4)), str(src / "img" / f"img{case}.nii.gz"))
        nib.save(nib.Nifti1Image(lab, np.eye(4)), str(src / "label" / f"label{case}.nii.gz"))
    _write_list(src / "train.txt", ["img0001"])
    _write_list(src / "val.txt", ["img0002"])
    assert synapse.convert(str(src), str(tmp_path / "out")) == {"train": 3, "val": 3}
    np.testing.assert_array_equal(_read(tmp_path / "out/ann_dir/val/case0002_slice002.png")[1], [0, 0, 0, 0, 5])
    out = _read(tmp_path / "out/img_dir/train/case0001_slice000.jpg")
    assert out.shape == (4, 5, 3) and abs(int(out[0, 0, 0]) - 127) <= 1
