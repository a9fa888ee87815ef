"""Geometric transforms: image and masks stay aligned (property tests) and known sizes/values."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seglab.datasets.transforms import Compose, Pad, RandomCrop, RandomFlip, RandomResize, Resize
from seglab.registry import TRANSFORMS


def coord_results(h: int, w: int) -> dict:
    """Image channels hold (y, x, 7); masks gt_seg_map = y and gt_x = x, so alignment is checkable."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([yy, xx, np.full_like(yy, 7)], -1).astype(np.uint8)
    return dict(img=img, gt_seg_map=yy.astype(np.uint8), gt_x=xx.astype(np.uint8),
                seg_fields=["gt_seg_map", "gt_x"], img_shape=(h, w), ori_shape=(h, w))


def assert_aligned(r: dict, tol: int) -> None:
    img, ys, xs = r["img"].astype(int), r["gt_seg_map"].astype(int), r["gt_x"].astype(int)
    assert img.shape[:2] == ys.shape == xs.shape == tuple(r["img_shape"][:2])
    valid = ys != 255  # padding
    assert (xs[valid] != 255).all() and (img[..., 2][valid] >= 6).all()
    assert (img[~valid] == 0).all()  # padded pixels: image pad value, and only where masks are padded
    assert np.abs(img[..., 0][valid] - ys[valid]).max(initial=0) <= tol
    assert np.abs(img[..., 1][valid] - xs[valid]).max(initial=0) <= tol


step = st.one_of(
    st.builds(lambda s, k: dict(type="Resize", scale=s, keep_ratio=k),
              st.tuples(st.integers(12, 40), st.integers(12, 40)), st.booleans()),
    st.builds(lambda f: dict(type="Resize", scale_factor=f), st.floats(0.8, 2.0)),
    st.builds(lambda r: dict(type="RandomResize", scale=(24, 20), ratio_range=(r, r + 0.5), keep_ratio=True),
              st.floats(0.8, 1.5)),
    st.builds(lambda c, m: dict(type="RandomCrop", crop_size=c, cat_max_ratio=m),
              st.tuples(st.integers(3, 30), st.integers(3, 30)), st.sampled_from([1.0, 0.75])),
    st.builds(lambda d: dict(type="RandomFlip", prob=1.0, direction=d),
              st.sampled_from(["horizontal", "vertical", "diagonal"])),
    st.builds(lambda p: dict(type="RandomFlip", prob=p), st.sampled_from([0.0, 0.5])),
)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(8, 30), w=st.integers(8, 30), steps=st.lists(step, min_size=1, max_size=4),
       divisor=st.sampled_from([None, 8, 16]), seed=st.integers(0, 2**16))
def test_geometric_pipelines_keep_image_and_masks_aligned(h, w, steps, divisor, seed) -> None:
    np.random.seed(seed)
    if divisor:
        steps = steps + [dict(type="Pad", size_divisor=divisor)]
    r = Compose(steps)(coord_results(h, w))
    # Bilinear image vs nearest mask may sample source pixels up to ~1 apart per interpolating step.
    n_interp = sum(s["type"] in ("Resize", "RandomResize") for s in steps)
    assert_aligned(r, tol=2 * n_interp)
    if n_interp == 0:  # crops, flips and pads move pixels exactly
        assert_aligned(r, tol=0)


def test_flip_directions_exact() -> None:
    r = coord_results(4, 5)
    out = RandomFlip(prob=1.0, direction="horizontal")(dict(r))
    np.testing.assert_array_equal(out["gt_x"], r["gt_x"][:, ::-1])
    assert out["flip"] is True and out["flip_direction"] == "horizontal"
    out = RandomFlip(prob=1.0, direction="diagonal")(coord_results(4, 5))
    np.testing.assert_array_equal(out["img"], r["img"][::-1, ::-1])
    out = RandomFlip(prob=0.0)(coord_results(4, 5))
    assert out["flip"] is False and out["flip_direction"] is None
    np.testing.assert_array_equal(out["img"], r["img"])


def test_flip_swaps_labels() -> None:
    seg = np.array([[1, 2, 3]], np.uint8)
    out = RandomFlip(prob=1.0, swap_seg_labels=[(1, 2)])(dict(img=np.zeros((1, 3, 3), np.uint8), gt_seg_map=seg))
    np.testing.assert_array_equal(out["gt_seg_map"], [[3, 1, 2]])


def test_flip_probability_lists() -> None:
    np.random.seed(0)
    f = RandomFlip(prob=[0.3, 0.3], direction=["horizontal", "vertical"])
    dirs = [f(dict(img=np.zeros((2, 2, 3), np.uint8)))["flip_direction"] for _ in range(2000)]
    assert abs(dirs.count("horizontal") / 2000 - 0.3) < 0.05 and abs(dirs.count(None) / 2000 - 0.4) < 0.05
    with pytest.raises(ValueError, match="direction"):
        RandomFlip(prob=0.5, direction="sideways")


def test_resize_keep_ratio_known_sizes() -> None:
    out = Resize(scale=(2048, 512), keep_ratio=True)(dict(img=np.zeros((360, 480, 3), np.uint8)))
    # factor = min(2048/480, 512/360) = 1.4222: w = int(480*1.4222+0.5) = 683
    assert out["img"].shape == (512, 683, 3) and out["img_shape"] == (512, 683)
    assert out["scale_factor"] == pytest.approx((683 / 480, 512 / 360)) and out["keep_ratio"] is True
    out = Resize(scale=(100, 60))(dict(img=np.zeros((360, 480, 3), np.uint8), gt_seg_map=np.ones((360, 480), np.uint8)))
    assert out["img"].shape == (60, 100, 3) and out["gt_seg_map"].shape == (60, 100)
    assert (out["gt_seg_map"] == 1).all()
    out = Resize(scale_factor=0.5, keep_ratio=True)(dict(img=np.zeros((11, 20, 3), np.uint8)))
    assert out["img_shape"] == (6, 10) and out["scale"] == (10, 6)


def test_resize_masks_use_nearest() -> None:
    seg = np.array([[0, 5], [9, 200]], np.uint8)
    out = Resize(scale=(7, 5))(dict(img=np.zeros((2, 2, 3), np.uint8), gt_seg_map=seg))
    assert set(np.unique(out["gt_seg_map"]).tolist()) == {0, 5, 9, 200}


def test_random_resize_ranges() -> None:
    np.random.seed(1)
    rr = RandomResize(scale=(100, 50), ratio_range=(0.5, 2.0), keep_ratio=True)
    widths = [rr(dict(img=np.zeros((50, 100, 3), np.uint8)))["img"].shape[1] for _ in range(50)]
    assert 50 <= min(widths) and max(widths) <= 200 and len(set(widths)) > 10
    rr = RandomResize(scale=[(40, 10), (60, 20)], keep_ratio=False)
    for _ in range(20):
        h, w = rr(dict(img=np.zeros((8, 8, 3), np.uint8)))["img"].shape[:2]
        assert 40 <= w <= 60 and 10 <= h <= 20
    assert isinstance(TRANSFORMS.build(dict(type="RandomResize", scale=(8, 8), ratio_range=(1, 1))).resize, Resize)


def test_random_crop_sizes() -> None:
    out = RandomCrop(crop_size=(3, 5))(coord_results(10, 10))
    assert out["img"].shape == (3, 5, 3) and out["img_shape"] == (3, 5)
    out = RandomCrop(crop_size=64)(coord_results(10, 12))  # larger than the image: keep it whole
    assert out["img"].shape == (10, 12, 3)


def test_random_crop_cat_max_ratio_prefers_mixed_windows() -> None:
    seg = np.zeros((10, 100), np.uint8)
    seg[:, 50:] = 1
    seg[:, 60:] = 255  # ignored pixels do not count as a class

    def mixed_rate(ratio: float) -> float:
        np.random.seed(0)
        crop = RandomCrop(crop_size=(10, 20), cat_max_ratio=ratio)
        hits = 0
        for _ in range(300):
            s = crop(dict(img=np.zeros((10, 100, 3), np.uint8), gt_seg_map=seg.copy()))["gt_seg_map"]
            labels, counts = np.unique(s, return_counts=True)
            counts = counts[labels != 255]
            hits += len(counts) > 1 and counts.max() / counts.sum() < ratio
        return hits / 300

    # With 10 tries a mixed window (p~0.1 each, offsets 31..39 of 0..80) is found most of the time.
    assert mixed_rate(0.75) > 0.5
    np.random.seed(0)
    plain = RandomCrop(crop_size=(10, 20))
    base = [len(np.unique(plain(dict(img=np.zeros((10, 100, 3), np.uint8), gt_seg_map=seg.copy()))["gt_seg_map"]))
            for _ in range(300)]
    assert mixed_rate(0.75) > 2 * (sum(b > 1 for b in base) / 300)


def test_pad_sizes_and_values() -> None:
    out = Pad(size_divisor=32)(dict(img=np.ones((33, 65, 3), np.uint8), gt_seg_map=np.ones((33, 65), np.uint8)))
    assert out["img"].shape == (64, 96, 3) and out["pad_shape"] == (64, 96) and out["img_shape"] == (64, 96)
    assert (out["img"][33:] == 0).all() and (out["gt_seg_map"][:, 65:] == 255).all()
    assert (out["img"][:33, :65] == 1).all() and out["pad_size_divisor"] == 32
    out = Pad(size=(10, 7), pad_val=dict(img=3, seg=9))(dict(img=np.zeros((5, 6, 3), np.uint8),
                                                              gt_seg_map=np.zeros((5, 6), np.uint8)))
    assert out["img"].shape == (7, 10, 3)  # size is (w, h) as in MMCV
    assert (out["img"][5:] == 3).all() and (out["gt_seg_map"][:, 6:] == 9).all()
    out = Pad(size=(8, 8), pad_val=5, seg_pad_val=0)(dict(img=np.zeros((5, 6, 3), np.uint8),
                                                          gt_seg_map=np.ones((5, 6), np.uint8)))
    assert (out["img"][5:] == 5).all() and (out["gt_seg_map"][5:] == 0).all()
    with pytest.raises(ValueError, match="larger than the pad size"):
        Pad(size=(4, 4))(dict(img=np.zeros((5, 6, 3), np.uint8)))


def test_reprs_name_arguments() -> None:
    assert "keep_ratio=True" in repr(Resize(scale=(8, 8), keep_ratio=True))
    assert "cat_max_ratio=0.75" in repr(RandomCrop(4, cat_max_ratio=0.75))
    assert "size_divisor=32" in repr(Pad(size_divisor=32))
    assert "ratio_range=(0.5, 2.0)" in repr(RandomResize(scale=(8, 8), ratio_range=(0.5, 2.0)))
