"""Lookup-table photometric changes, histogram crop checks and OpenCV flips give exactly the plain formulas' outputs."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from seglab.datasets.transforms.geometric import _FLIP_AXES, RandomCrop, RandomFlip, _flip, _label_counts
from seglab.datasets.transforms.photometric import PhotoMetricDistortion, _lookup


def plain_convert(img: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    return np.clip(img.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


def plain_distortion(img: np.ndarray, t: PhotoMetricDistortion) -> np.ndarray:
    """PhotoMetricDistortion written per pixel, drawing the same random numbers in the same order."""
    if np.random.randint(2):
        img = plain_convert(img, beta=np.random.uniform(-t.brightness_delta, t.brightness_delta))
    contrast_first = np.random.randint(2) == 1

    def contrast(img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            return plain_convert(img, alpha=np.random.uniform(t.contrast_lower, t.contrast_upper))
        return img

    if contrast_first:
        img = contrast(img)
    if np.random.randint(2):
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        hsv[:, :, 1] = plain_convert(hsv[:, :, 1], alpha=np.random.uniform(t.saturation_lower, t.saturation_upper))
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    if np.random.randint(2):
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        hsv[:, :, 0] = (hsv[:, :, 0].astype(int) + np.random.randint(-t.hue_delta, t.hue_delta)) % 180
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    if not contrast_first:
        img = contrast(img)
    return img


@pytest.mark.parametrize("seed", range(12))
def test_photometric_distortion_equals_the_per_pixel_formulas(seed: int):
    img = np.random.default_rng(seed).integers(0, 256, (23, 31, 3), dtype=np.uint8)
    t = PhotoMetricDistortion()
    np.random.seed(seed)
    got = t(dict(img=img.copy()))["img"]
    np.random.seed(seed)
    want = plain_distortion(img.copy(), t)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, want)
    # A non-contiguous view (a crop) is read by cv2.LUT in place: same numbers.
    np.random.seed(seed)
    view = np.ascontiguousarray(np.pad(img, ((0, 0), (0, 5), (0, 0))))[:, :31]
    np.testing.assert_array_equal(t(dict(img=view))["img"], want)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int64])
def test_label_counts_equal_np_unique(dtype: type):
    seg = np.random.default_rng(0).integers(0, 12, (40, 50)).astype(dtype)
    seg[:5] = 255
    labels, counts = np.unique(seg[3:30, 7:41], return_counts=True)
    np.testing.assert_array_equal(_label_counts(seg[3:30, 7:41], 255), counts[labels != 255])


def test_random_crop_with_cat_max_ratio_draws_the_same_windows_as_before():
    """The histogram check keeps RandomCrop's draws: the window for each seed is the np.unique one."""
    rng = np.random.default_rng(1)
    seg = rng.integers(0, 3, (60, 80)).astype(np.uint8)
    seg[:, :50] = 0  # mostly one class: some windows get rejected
    crop = RandomCrop(crop_size=(20, 30), cat_max_ratio=0.75)
    for seed in range(5):
        np.random.seed(seed)
        got = crop._generate_crop_bbox(dict(img=np.zeros((60, 80, 3), np.uint8), gt_seg_map=seg))
        np.random.seed(seed)
        bbox = crop.crop_bbox(60, 80)
        for _ in range(10):
            y1, y2, x1, x2 = bbox
            labels, counts = np.unique(seg[y1:y2, x1:x2], return_counts=True)
            counts = counts[labels != 255]
            if len(counts) > 1 and counts.max() / counts.sum() < 0.75:
                break
            bbox = crop.crop_bbox(60, 80)
        assert got == bbox


def test_label_map_lookup_equals_the_per_id_assignment(tmp_path):
    """LoadAnnotations' table lookup maps chained ids from the original values, like the per-id loop."""
    from seglab.datasets.transforms.loading import LoadAnnotations

    seg = np.random.default_rng(2).integers(0, 6, (17, 19)).astype(np.uint8)
    path = str(tmp_path / "mask.png")
    cv2.imwrite(path, seg)
    label_map = {1: 2, 2: 3, 5: 255}
    want = seg.copy()
    for old_id, new_id in label_map.items():
        want[seg == old_id] = new_id
    got = LoadAnnotations()(dict(seg_map_path=path, label_map=label_map, reduce_zero_label=False))["gt_seg_map"]
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape", [(7, 9), (7, 9, 1), (7, 9, 3), (7, 9, 4), (7, 9, 6)])
def test_lookup_equals_numpy_indexing_for_every_layout(shape: tuple[int, ...]):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (shape[0] + 4, shape[1] + 5, *shape[2:]), dtype=np.uint8)[2:-2, 3:-2]
    table = rng.integers(0, 256, 256).astype(np.uint8)
    for view in (img, img[::-1], np.ascontiguousarray(img)):
        got = _lookup(view, table)
        assert got.shape == view.shape
        np.testing.assert_array_equal(got, table[view])


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.int64, np.bool_])
@pytest.mark.parametrize("shape", [(6, 7), (6, 7, 1), (6, 7, 3), (6, 7, 5)])
def test_flip_equals_numpy_flip(dtype: type, shape: tuple[int, ...]):
    arr = np.random.default_rng(4).integers(0, 100, (shape[0] + 2, *shape[1:])).astype(dtype)[1:-1]
    for direction, axes in _FLIP_AXES.items():
        got = _flip(arr, axes)
        assert got.flags.c_contiguous and got.dtype == arr.dtype, direction
        np.testing.assert_array_equal(got, np.flip(arr, axes))


def test_random_flip_swaps_labels_after_the_cv2_flip():
    seg = np.array([[0, 1, 2, 3]], np.uint8)
    out = RandomFlip(prob=1.0, swap_seg_labels=[(1, 2)])(dict(img=np.zeros((1, 4, 3), np.uint8), gt_seg_map=seg))
    np.testing.assert_array_equal(out["gt_seg_map"], [[3, 1, 2, 0]])
    np.testing.assert_array_equal(seg, [[0, 1, 2, 3]])  # the input is not changed in place
