"""AdjustGamma, CLAHE, Rerange, RGB2Gray: known values and parity with MMSeg."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seglab.datasets.transforms.intensity import CLAHE, AdjustGamma, Rerange, RGB2Gray
from seglab.registry import TRANSFORMS

GOLDEN = Path(__file__).parents[2] / "data" / "transforms" / "mmseg_extra_transforms.npz"


def test_adjust_gamma_lut_values() -> None:
    img = np.array([[[0, 64, 255]]], np.uint8)
    # gamma 2: 255 * sqrt(v / 255), truncated: 64 -> 127.75 -> 127
    np.testing.assert_array_equal(AdjustGamma(gamma=2.0)(dict(img=img))["img"], [[[0, 127, 255]]])
    # gamma 0.5: 255 * (v / 255) ** 2: 64 -> 16.06 -> 16
    np.testing.assert_array_equal(AdjustGamma(gamma=0.5)(dict(img=img))["img"], [[[0, 16, 255]]])
    one = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    out = AdjustGamma(gamma=1.0)(dict(img=one))["img"]
    assert out.shape == one.shape and out.dtype == np.uint8
    # 1.0 is the identity except where float error truncates (v / 255 * 255 slightly below v).
    assert np.abs(out.astype(int) - one).max() <= 1
    with pytest.raises(ValueError, match="gamma"):
        AdjustGamma(gamma=0)


def test_clahe_raises_contrast_keeps_shape_and_dtype() -> None:
    rng = np.random.RandomState(0)
    img = rng.randint(100, 120, (32, 32, 3)).astype(np.uint8)  # low contrast
    out = CLAHE(clip_limit=4.0, tile_grid_size=(2, 2))(dict(img=img.copy()))["img"]
    assert out.shape == img.shape and out.dtype == np.uint8
    assert out.std() > 2 * img.std()
    # Equalisation is monotone within a tile: brighter input pixels never get darker outputs.
    tile_in, tile_out = img[:4, :4, 0].ravel(), out[:4, :4, 0].ravel()
    order = np.argsort(tile_in, kind="stable")
    assert (np.diff(tile_out[order].astype(int))[np.diff(tile_in[order].astype(int)) > 0] >= 0).all()
    gray = CLAHE()(dict(img=img[..., 0].copy()))["img"]
    assert gray.shape == (32, 32)


def test_rerange_min_max() -> None:
    img = np.array([[[10, 20, 30]], [[40, 50, 60]]], np.uint8)
    out = Rerange(min_value=-1, max_value=1)(dict(img=img))["img"]
    assert out.dtype == np.float64 and out.min() == -1 and out.max() == 1
    np.testing.assert_allclose(out[0, 0], [-1, -0.6, -0.2])
    with pytest.raises(ValueError, match="constant"):
        Rerange()(dict(img=np.full((2, 2, 3), 5, np.uint8), img_path="a.png"))
    with pytest.raises(ValueError, match="min_value"):
        Rerange(min_value=3, max_value=3)


def test_rgb2gray_weights_and_channels() -> None:
    img = np.array([[[100, 50, 10]]], np.uint8)
    out = RGB2Gray()(dict(img=img))
    np.testing.assert_allclose(out["img"], [[[60.39] * 3]])  # .299*100 + .587*50 + .114*10
    assert out["img_shape"] == (1, 1)
    one = RGB2Gray(out_channels=1, weights=(1, 0, 0))(dict(img=img))["img"]
    assert one.shape == (1, 1, 1) and one[0, 0, 0] == 100
    with pytest.raises(ValueError, match="weights"):
        RGB2Gray()(dict(img=np.zeros((2, 2, 4), np.uint8)))


def test_intensity_matches_mmseg() -> None:
    g = np.load(GOLDEN)
    lut = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, 2)
    for gamma in (0.5, 2.2):
        np.testing.assert_array_equal(AdjustGamma(gamma=gamma)(dict(img=lut.copy()))["img"], g[f"gamma_{gamma}"])
    clahe = TRANSFORMS.build(dict(type="CLAHE", clip_limit=2.0, tile_grid_size=(4, 4)))
    np.testing.assert_array_equal(clahe(dict(img=g["clahe_in"].copy()))["img"], g["clahe_out"])
    np.testing.assert_allclose(Rerange(-1, 3)(dict(img=g["img"].copy()))["img"], g["rerange"], rtol=1e-12)
    np.testing.assert_allclose(RGB2Gray(2, (0.2, 0.3, 0.5))(dict(img=g["img"].copy()))["img"], g["gray"], rtol=1e-12)
