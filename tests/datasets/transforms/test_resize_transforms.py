"""Resize family (RandomChoiceResize, ResizeShortestEdge, ResizeToMultiple, SegRescale): sizes, alignment, parity."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seglab.datasets.transforms import Compose
from seglab.datasets.transforms.resize import RandomChoiceResize, ResizeShortestEdge, ResizeToMultiple, SegRescale
from seglab.registry import TRANSFORMS

GOLDEN = Path(__file__).parents[2] / "data" / "transforms" / "mmseg_extra_transforms.npz"


def coord_results(h: int, w: int) -> dict:
    """Image channels (y, x, 7); masks gt_seg_map = y and gt_x = x, so alignment can be checked."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([yy, xx, np.full_like(yy, 7)], -1).astype(np.uint8)
    return dict(img=img, gt_seg_map=yy.astype(np.uint8), gt_x=xx.astype(np.uint8),
                seg_fields=["gt_seg_map", "gt_x"], img_shape=(h, w), ori_shape=(h, w))


def golden_results(g: np.lib.npyio.NpzFile) -> dict:
    return dict(img=g["img"].copy(), gt_seg_map=g["seg"].copy(), seg_fields=["gt_seg_map"],
                img_shape=g["img"].shape[:2], ori_shape=g["img"].shape[:2])


@pytest.mark.parametrize(
    ("hw", "scale", "max_size", "expected"),
    [
        ((20, 100), 16, 40, (8, 40)),  # short edge 16 would make the long edge 80 > 40: long edge -> 40
        ((20, 100), 8, 1000, (8, 40)),
        ((100, 20), (24, 12), 1000, (60, 12)),  # a tuple scale uses its min as the short edge
        ((33, 33), 16, 40, (16, 16)),
        ((14, 11), 20, 40, (25, 20)),  # 14 * 20 / 11 = 25.45 -> 25
    ],
)
def test_resize_shortest_edge_sizes(hw, scale, max_size, expected) -> None:
    r = ResizeShortestEdge(scale=scale, max_size=max_size)(dict(img=np.zeros((*hw, 3), np.uint8)))
    assert r["img"].shape[:2] == expected == tuple(r["img_shape"])
    assert r["keep_ratio"] is True


def test_resize_to_multiple_sizes_and_keys() -> None:
    r = ResizeToMultiple(size_divisor=8)(coord_results(13, 17))
    assert r["img"].shape[:2] == (16, 24) == r["gt_seg_map"].shape == r["gt_x"].shape
    assert r["img_shape"] == r["pad_shape"] == (16, 24)
    same = ResizeToMultiple(size_divisor=4)(coord_results(8, 12))  # already a multiple: unchanged
    np.testing.assert_array_equal(same["img"], coord_results(8, 12)["img"])
    with pytest.raises(ValueError, match="interpolation"):
        ResizeToMultiple(interpolation="cubic")


def test_seg_rescale_nearest_only_masks() -> None:
    seg = np.arange(16, dtype=np.uint8).reshape(4, 4)
    r = SegRescale(scale_factor=0.5)(dict(img=np.zeros((4, 4, 3), np.uint8), gt_seg_map=seg, seg_fields=["gt_seg_map"]))
    np.testing.assert_array_equal(r["gt_seg_map"], [[0, 2], [8, 10]])  # nearest: every other pixel, no blending
    assert r["img"].shape == (4, 4, 3)
    up = SegRescale(scale_factor=2)(dict(gt_seg_map=np.array([[1, 2]], np.uint8)))
    np.testing.assert_array_equal(up["gt_seg_map"], [[1, 1, 2, 2], [1, 1, 2, 2]])


def test_random_choice_resize_picks_listed_scales() -> None:
    np.random.seed(0)
    t = TRANSFORMS.build(dict(type="RandomChoiceResize", scales=[(30, 20), (16, 16)], keep_ratio=False))
    seen = set()
    for _ in range(20):
        r = t(coord_results(10, 12))
        seen.add((r["scale_idx"], r["img"].shape[:2]))
    assert seen == {(0, (20, 30)), (1, (16, 16))}
    single = RandomChoiceResize(scales=(8, 6))(coord_results(10, 12))  # one scale, not a list
    assert single["img"].shape[:2] == (6, 8) and single["scale_idx"] == 0


def test_random_choice_resize_with_shortest_edge_as_in_mask2former() -> None:
    np.random.seed(0)
    t = TRANSFORMS.build({"type": "RandomChoiceResize", "scales": [16, 24], "resize_type": "ResizeShortestEdge",
                          "max_size": 40})
    sizes = {t(coord_results(10, 30))["img"].shape[:2] for _ in range(20)}
    # Both short edges hit the cap: (w, h) = (40, 13.3) -> (40, 13); the keep-ratio Resize then makes
    # it (39, 13), exactly as MMSeg does.
    assert sizes == {(13, 39)}
    assert {t(coord_results(10, 12))["img"].shape[:2] for _ in range(20)} == {(16, 19), (24, 29)}


def test_resize_family_matches_mmseg() -> None:
    g = np.load(GOLDEN)
    r = ResizeToMultiple(size_divisor=8)(golden_results(g))
    np.testing.assert_array_equal(r["img"], g["rtm_img"])
    np.testing.assert_array_equal(r["gt_seg_map"], g["rtm_seg"])
    r = ResizeShortestEdge(scale=20, max_size=40)(golden_results(g))
    np.testing.assert_array_equal(r["img"], g["rse_img"])
    np.testing.assert_array_equal(r["gt_seg_map"], g["rse_seg"])
    sizes = []
    for h, w in g["rse_sizes"][::3, :2]:
        for scale, max_size in [(16, 40), ((24, 12), 30), (8, 1000)]:
            out = ResizeShortestEdge(scale=scale, max_size=max_size)(dict(img=np.zeros((h, w, 3), np.uint8)))
            sizes.append([h, w, *out["img"].shape[:2]])
    np.testing.assert_array_equal(sizes, g["rse_sizes"])
    np.testing.assert_array_equal(SegRescale(0.5)(golden_results(g))["gt_seg_map"], g["segrescale_seg"])
    np.random.seed(7)  # same random draws as MMCV's RandomChoiceResize
    t = RandomChoiceResize(scales=[(30, 20), (16, 16), (9, 40)], keep_ratio=True)
    got = [[(r := t(golden_results(g)))["scale_idx"], *r["img"].shape[:2]] for _ in range(6)]
    np.testing.assert_array_equal(got, g["rcr_seed7"])


resize_step = st.one_of(
    st.builds(lambda s, k: dict(type="RandomChoiceResize", scales=s, keep_ratio=k),
              st.lists(st.tuples(st.integers(10, 40), st.integers(10, 40)), min_size=1, max_size=3), st.booleans()),
    st.builds(lambda s, m: dict(type="ResizeShortestEdge", scale=s, max_size=m),
              st.integers(10, 30), st.integers(30, 50)),
    st.builds(lambda d: dict(type="ResizeToMultiple", size_divisor=d), st.sampled_from([4, 8, 16])),
)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(8, 30), w=st.integers(8, 30), step=resize_step, seed=st.integers(0, 2**16))
def test_resize_family_keeps_image_and_masks_aligned(h, w, step, seed) -> None:
    np.random.seed(seed)
    r = Compose([step])(coord_results(h, w))
    img, ys, xs = r["img"].astype(int), r["gt_seg_map"].astype(int), r["gt_x"].astype(int)
    oh, ow = ys.shape
    assert img.shape[:2] == xs.shape == (oh, ow) == tuple(r["img_shape"])
    # Masks are exact nearest samples: rows share y, columns share x, both in range and non-decreasing.
    assert (ys == ys[:, :1]).all() and (xs == xs[:1, :]).all()
    assert (np.diff(ys[:, 0]) >= 0).all() and (np.diff(xs[0]) >= 0).all()
    assert ys.max() < h and xs.max() < w
    # Bilinear image vs nearest mask sample points differ by up to half a source pixel step plus one.
    tol_y, tol_x = 1 + int(np.ceil(h / oh / 2)), 1 + int(np.ceil(w / ow / 2))
    assert np.abs(img[..., 0] - ys).max() <= tol_y
    assert np.abs(img[..., 1] - xs).max() <= tol_x
    assert (img[..., 2] == 7).all()
