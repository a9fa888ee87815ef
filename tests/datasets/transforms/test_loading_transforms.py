"""LoadImageFromFile / LoadAnnotations / LoadImageFromNDArray: values, options and file-naming errors."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from seglab.datasets.transforms import LoadAnnotations, LoadImageFromFile, LoadImageFromNDArray


@pytest.fixture
def files(tmp_path: Path) -> Path:
    img = np.zeros((4, 5, 3), np.uint8)
    img[..., 0], img[..., 2] = 10, 200  # B=10, R=200
    cv2.imwrite(str(tmp_path / "img.png"), img)
    cv2.imwrite(str(tmp_path / "seg.png"), np.array([[0, 1, 2, 3, 255]] * 4, np.uint8))
    return tmp_path


def test_load_image_bgr_and_shapes(files: Path) -> None:
    r = LoadImageFromFile()(dict(img_path=str(files / "img.png")))
    assert r["img"].dtype == np.uint8 and r["img"].shape == (4, 5, 3)
    assert (r["img"][..., 0] == 10).all() and (r["img"][..., 2] == 200).all()
    assert r["img_shape"] == r["ori_shape"] == (4, 5)
    r = LoadImageFromFile(to_float32=True, color_type="grayscale")(dict(img_path=str(files / "img.png")))
    assert r["img"].dtype == np.float32 and r["img"].shape == (4, 5)


def test_load_image_errors_name_the_file(files: Path) -> None:
    (files / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    with pytest.raises(ValueError, match=r"bad\.jpg: cannot decode"):
        LoadImageFromFile()(dict(img_path=str(files / "bad.jpg")))
    (files / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.png"):
        LoadImageFromFile()(dict(img_path=str(files / "empty.png")))
    with pytest.raises(FileNotFoundError, match=r"gone\.png"):
        LoadImageFromFile()(dict(img_path=str(files / "gone.png")))
    assert LoadImageFromFile(ignore_empty=True)(dict(img_path=str(files / "gone.png"))) is None


def test_load_from_ndarray() -> None:
    r = LoadImageFromNDArray()(dict(img=np.zeros((3, 2, 3), np.uint8)))
    assert r["ori_shape"] == (3, 2) and r["img_path"] is None


def test_load_annotations_plain_and_reduce_zero(files: Path) -> None:
    base = dict(seg_map_path=str(files / "seg.png"), seg_fields=[])
    r = LoadAnnotations()(dict(base, reduce_zero_label=False))
    np.testing.assert_array_equal(r["gt_seg_map"][0], [0, 1, 2, 3, 255])
    assert r["gt_seg_map"].dtype == np.uint8 and r["seg_fields"] == ["gt_seg_map"]
    r = LoadAnnotations()(dict(base, reduce_zero_label=True, seg_fields=[]))
    np.testing.assert_array_equal(r["gt_seg_map"][0], [255, 0, 1, 2, 255])
    with pytest.raises(ValueError, match="set it on the dataset"):
        LoadAnnotations(reduce_zero_label=False)(dict(base, reduce_zero_label=True, seg_fields=[]))
    r = LoadAnnotations(reduce_zero_label=True)(dict(seg_map_path=str(files / "seg.png")))  # standalone use
    np.testing.assert_array_equal(r["gt_seg_map"][0], [255, 0, 1, 2, 255])


def test_label_map_uses_original_values(files: Path) -> None:
    r = LoadAnnotations()(dict(seg_map_path=str(files / "seg.png"), label_map={1: 2, 2: 3, 3: 255}))
    np.testing.assert_array_equal(r["gt_seg_map"][0], [0, 2, 3, 255, 255])


def test_label_range_check(files: Path) -> None:
    ok = dict(seg_map_path=str(files / "seg.png"), num_classes=4, ignore_index=255)
    LoadAnnotations()(ok)
    with pytest.raises(ValueError, match=r"seg\.png: label values \[3\] exceed num_classes-1=2"):
        LoadAnnotations()(dict(ok, num_classes=3))


def test_mask_size_checked_against_original_image(files: Path) -> None:
    r = dict(seg_map_path=str(files / "seg.png"), img=np.zeros((8, 10, 3), np.uint8), ori_shape=(4, 5))
    assert LoadAnnotations()(r)["gt_seg_map"].shape == (4, 5)  # image resized before loading: fine
    with pytest.raises(ValueError, match=r"seg\.png: mask size \(4, 5\) differs"):
        LoadAnnotations()(dict(seg_map_path=str(files / "seg.png"), img=np.zeros((4, 6, 3), np.uint8)))


def test_bad_masks_named(files: Path) -> None:
    cv2.imwrite(str(files / "colour.png"), np.zeros((4, 5, 3), np.uint8) + 7)
    with pytest.raises(ValueError, match=r"colour\.png: a label map must be single-channel"):
        LoadAnnotations()(dict(seg_map_path=str(files / "colour.png")))
    (files / "broken.png").write_bytes(b"\x89PNG\r\n")
    with pytest.raises(ValueError, match=r"broken\.png"):
        LoadAnnotations()(dict(seg_map_path=str(files / "broken.png")))
