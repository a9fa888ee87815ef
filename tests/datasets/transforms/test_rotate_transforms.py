"""RandomRotate / RandomRotFlip: known rotations, image-mask alignment, parity with MMSeg."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seglab.datasets.transforms.rotate import RandomRotate, RandomRotFlip, imrotate

GOLDEN = Path(__file__).parents[2] / "data" / "transforms" / "mmseg_extra_transforms.npz"


def coord_results(h: int, w: int) -> dict:
    """Image channels (y+1, x+1, 250); masks gt_seg_map = y+1 and gt_x = x+1 (0 and 255 stay free for padding)."""
    yy, xx = np.mgrid[1:h + 1, 1:w + 1]
    img = np.stack([yy, xx, np.full_like(yy, 250)], -1).astype(np.uint8)
    return dict(img=img, gt_seg_map=yy.astype(np.uint8), gt_x=xx.astype(np.uint8),
                seg_fields=["gt_seg_map", "gt_x"], img_shape=(h, w), ori_shape=(h, w))


def assert_aligned(r: dict, pad: int) -> None:
    """Masks padded at the same pixels; where the image is fully inside the source, coords agree to 1."""
    img, ys, xs = r["img"].astype(int), r["gt_seg_map"].astype(int), r["gt_x"].astype(int)
    assert img.shape[:2] == ys.shape == xs.shape == tuple(r["img_shape"])
    np.testing.assert_array_equal(ys == pad, xs == pad)
    # A mask pixel is padding when its sample point lies >= half a pixel outside the source, so at
    # most half of the image's bilinear weight there comes from inside (the 250 channel drops to <= 125).
    assert (img[..., 2][ys == pad] <= 125).all()
    # Coordinates are linear, so bilinear image samples equal the exact source point; nearest is <= 0.5 off.
    inner = (img[..., 2] == 250) & (ys != pad)  # no weight at all from outside the source
    assert np.abs(img[..., 0] - ys)[inner].max(initial=0) <= 1
    assert np.abs(img[..., 1] - xs)[inner].max(initial=0) <= 1


def test_imrotate_90_degrees_is_clockwise_rot90() -> None:
    a = np.arange(25, dtype=np.uint8).reshape(5, 5)
    np.testing.assert_array_equal(imrotate(a, 90, interpolation="nearest"), np.rot90(a, -1))
    np.testing.assert_array_equal(imrotate(a, -90, interpolation="nearest"), np.rot90(a, 1))
    tall = np.ones((4, 10), np.uint8)
    assert imrotate(tall, 90, auto_bound=True).shape == (10, 4)
    with pytest.raises(ValueError, match="auto_bound"):
        imrotate(tall, 10, center=(1.0, 1.0), auto_bound=True)


def test_imrotate_many_channels_fills_every_channel() -> None:
    img = np.full((6, 6, 6), 9, np.uint8)
    out = imrotate(img, 45, border_value=3)
    assert out.shape == img.shape and (out[0, 0] == 3).all() and (out[3, 3] == 9).all()


def test_random_rotate_pads_and_probability() -> None:
    r = RandomRotate(prob=1.0, degree=(45, 45), pad_val=5, seg_pad_val=200)(coord_results(9, 9))
    assert (r["img"][0, 0] == 5).all() and r["gt_seg_map"][0, 0] == 200 == r["gt_x"][0, 0]
    assert r["gt_seg_map"][4, 4] == 5 and r["gt_x"][4, 4] == 5  # the centre stays put
    same = RandomRotate(prob=0.0, degree=30)(coord_results(5, 6))
    np.testing.assert_array_equal(same["img"], coord_results(5, 6)["img"])
    with pytest.raises(ValueError, match="prob"):
        RandomRotate(prob=1.5, degree=10)
    with pytest.raises(ValueError, match="degree"):
        RandomRotate(prob=0.5, degree=-3)


def test_random_rotate_matches_mmseg() -> None:
    g = np.load(GOLDEN)
    cases = {"rot": dict(prob=1.0, degree=(30, 30)),
             "rot_ab": dict(prob=1.0, degree=(-50, -50), auto_bound=True),
             "rot_c": dict(prob=1.0, degree=(17, 17), center=(2.0, 3.0), seg_pad_val=7)}
    for name, kw in cases.items():
        r = RandomRotate(**kw)(dict(img=g["img"].copy(), gt_seg_map=g["seg"].copy(), seg_fields=["gt_seg_map"]))
        np.testing.assert_array_equal(r["img"], g[f"{name}_img"], err_msg=name)
        np.testing.assert_array_equal(r["gt_seg_map"], g[f"{name}_seg"], err_msg=name)
    np.random.seed(3)  # same random draws as MMSeg
    r = RandomRotate(prob=0.9, degree=40)(dict(img=g["img"].copy(), gt_seg_map=g["seg"].copy()))
    np.testing.assert_array_equal(r["img"], g["rot_seed3_img"])
    np.testing.assert_array_equal(r["gt_seg_map"], g["rot_seed3_seg"])


def test_rot_flip_right_angles_are_exact() -> None:
    np.random.seed(0)
    t = RandomRotFlip(rotate_prob=0.0, flip_prob=1.0)
    src = coord_results(4, 6)
    shapes = set()
    for _ in range(12):
        r = t(coord_results(4, 6))
        assert_aligned(r, pad=0)
        # Every output is a permutation of the source pixels, and the masks say where each came from.
        np.testing.assert_array_equal(src["img"][r["gt_seg_map"] - 1, r["gt_x"] - 1], r["img"])
        shapes.add(r["img"].shape[:2])
    assert shapes == {(4, 6), (6, 4)}


@settings(max_examples=20, deadline=None)
@given(h=st.integers(6, 24), w=st.integers(6, 24), lo=st.floats(-90, 90), span=st.floats(0, 60),
       auto_bound=st.booleans(), seed=st.integers(0, 2**16))
def test_random_rotate_keeps_image_and_masks_aligned(h, w, lo, span, auto_bound, seed) -> None:
    np.random.seed(seed)
    r = RandomRotate(prob=1.0, degree=(lo, lo + span), auto_bound=auto_bound)(coord_results(h, w))
    assert_aligned(r, pad=255)


@settings(max_examples=20, deadline=None)
@given(h=st.integers(6, 24), w=st.integers(6, 24), rotate_prob=st.sampled_from([0.0, 0.5, 1.0]),
       seed=st.integers(0, 2**16))
def test_random_rot_flip_keeps_image_and_masks_aligned(h, w, rotate_prob, seed) -> None:
    np.random.seed(seed)
    r = RandomRotFlip(rotate_prob=rotate_prob, flip_prob=1.0, degree=25)(coord_results(h, w))
    assert_aligned(r, pad=0)  # MMSeg pads RandomRotFlip's masks with 0
