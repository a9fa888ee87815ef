"""RandomCutOut: holes hit image and masks at the same pixels; sizes, probability, parity with MMSeg."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seglab.datasets.transforms.cutout import RandomCutOut

GOLDEN = Path(__file__).parents[2] / "data" / "transforms" / "mmseg_extra_transforms.npz"


def coord_results(h: int, w: int) -> dict:
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([yy, xx, np.full_like(yy, 7)], -1).astype(np.uint8)
    return dict(img=img, gt_seg_map=yy.astype(np.uint8), gt_x=xx.astype(np.uint8), seg_fields=["gt_seg_map", "gt_x"])


def test_one_fixed_hole_known_pixels() -> None:
    np.random.seed(0)
    r = RandomCutOut(prob=1.0, n_holes=1, cutout_shape=(3, 2), fill_in=(250, 251, 252), seg_fill_in=254)(
        coord_results(10, 10))
    holes = r["gt_seg_map"] == 254
    ys, xs = np.nonzero(holes)
    # A (w, h) = (3, 2) box, clipped at the right/bottom border.
    assert 1 <= ys.max() - ys.min() + 1 <= 2 and 1 <= xs.max() - xs.min() + 1 <= 3
    assert holes.sum() == (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    assert (r["img"][holes] == [250, 251, 252]).all()
    np.testing.assert_array_equal(holes, r["gt_x"] == 254)


def test_masks_untouched_without_seg_fill_in_and_prob_zero() -> None:
    src = coord_results(8, 8)
    r = RandomCutOut(prob=1.0, n_holes=(2, 3), cutout_ratio=(0.5, 0.5), fill_in=(255, 255, 255))(coord_results(8, 8))
    assert (r["img"] == 255).all(-1).any()
    np.testing.assert_array_equal(r["gt_seg_map"], src["gt_seg_map"])
    r = RandomCutOut(prob=0.0, n_holes=3, cutout_shape=(2, 2), seg_fill_in=1)(coord_results(8, 8))
    np.testing.assert_array_equal(r["img"], src["img"])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        RandomCutOut(prob=0.5, n_holes=1)
    with pytest.raises(ValueError, match="exactly one"):
        RandomCutOut(prob=0.5, n_holes=1, cutout_shape=(2, 2), cutout_ratio=(0.1, 0.1))
    with pytest.raises(ValueError, match="n_holes"):
        RandomCutOut(prob=0.5, n_holes=(3, 1), cutout_shape=(2, 2))
    with pytest.raises(ValueError, match="seg_fill_in"):
        RandomCutOut(prob=0.5, n_holes=1, cutout_shape=(2, 2), seg_fill_in=300)


def test_matches_mmseg_with_the_same_seed() -> None:
    g = np.load(GOLDEN)
    for seed, kw, name in [
        (5, dict(n_holes=(2, 4), cutout_shape=[(3, 2), (2, 5)], fill_in=(1, 2, 3), seg_fill_in=9), "cut_seed5"),
        (6, dict(n_holes=3, cutout_ratio=(0.3, 0.2)), "cutr_seed6"),
    ]:
        np.random.seed(seed)
        results = {"img": g["img"].copy(), "gt_seg_map": g["seg"].copy(), "seg_fields": ["gt_seg_map"]}
        r = RandomCutOut(prob=1.0, **kw)(results)
        np.testing.assert_array_equal(r["img"], g[f"{name}_img"])
        np.testing.assert_array_equal(r["gt_seg_map"], g[f"{name}_seg"])


@settings(max_examples=25, deadline=None)
@given(h=st.integers(4, 30), w=st.integers(4, 30), n=st.integers(1, 4),
       shapes=st.lists(st.tuples(st.integers(1, 12), st.integers(1, 12)), min_size=1, max_size=3),
       seed=st.integers(0, 2**16))
def test_holes_hit_image_and_masks_at_the_same_pixels(h, w, n, shapes, seed) -> None:
    np.random.seed(seed)
    src = coord_results(h, w)
    r = RandomCutOut(prob=1.0, n_holes=n, cutout_shape=shapes, fill_in=(250, 250, 250), seg_fill_in=254)(
        coord_results(h, w))
    hole_img = (r["img"] == 250).all(-1)
    hole_y, hole_x = r["gt_seg_map"] == 254, r["gt_x"] == 254
    np.testing.assert_array_equal(hole_img, hole_y)
    np.testing.assert_array_equal(hole_img, hole_x)
    assert hole_img.any()
    # Everything outside the holes is untouched, so image and masks still agree pixel by pixel.
    np.testing.assert_array_equal(r["img"][~hole_img], src["img"][~hole_img])
    np.testing.assert_array_equal(r["img"][..., 0][~hole_img], r["gt_seg_map"][~hole_img])
