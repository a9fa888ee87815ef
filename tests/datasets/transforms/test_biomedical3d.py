"""3-D biomedical transforms: seeded outputs equal MMSeg 1.2.2's (golden from
tests/data/transforms/make_biomedical_reference.py), plus hand-computed cases and MMSeg's slips fixed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seglab.datasets.transforms.biomedical3d import (
    BioMedical3DPad,
    BioMedical3DRandomCrop,
    BioMedical3DRandomFlip,
    BioMedicalGaussianBlur,
    BioMedicalGaussianNoise,
    BioMedicalRandomGamma,
    gaussian_filter,
)
from seglab.registry import TRANSFORMS

GOLDEN = np.load(Path(__file__).parents[2] / "data" / "transforms" / "mmseg_biomedical3d.npz")
IMG, SEG = GOLDEN["img"], GOLDEN["seg"]


def res() -> dict:
    return {"img": IMG.copy(), "gt_seg_map": SEG.copy(), "img_shape": IMG.shape[1:], "img_path": "case.nii.gz"}


def run(transform, seed: int) -> dict:  # noqa: ANN001
    np.random.seed(seed)
    return transform(res())


@pytest.mark.parametrize("name, transform, seed", [
    ("crop_fg_seed1", BioMedical3DRandomCrop(crop_shape=(4, 5, 3), keep_foreground=True), 1),
    ("crop_any_seed2", BioMedical3DRandomCrop(crop_shape=3, keep_foreground=False), 2),
])
def test_random_crop_matches_mmseg(name, transform, seed):
    out = run(transform, seed)
    np.testing.assert_array_equal(out["img"], GOLDEN[f"{name}_img"])
    np.testing.assert_array_equal(out["gt_seg_map"], GOLDEN[f"{name}_seg"])
    assert out["img_shape"] == out["img"].shape[1:] == out["gt_seg_map"].shape


def test_foreground_crop_starts_between_zero_and_the_start_centred_on_a_foreground_voxel():
    seg = np.zeros((6, 7, 8))
    seg[5, 1, 7] = 3  # one foreground voxel: the patch centred on it starts at (4, 0, 6) (clipped to the volume)
    crop = BioMedical3DRandomCrop(crop_shape=(2, 2, 2))
    assert crop.generate_margin({"img": np.zeros((1, 6, 7, 8)), "gt_seg_map": seg}) == (4, 0, 6)
    with pytest.warns(UserWarning, match="no foreground"):
        assert crop.generate_margin({"img": np.zeros((1, 6, 7, 8)), "gt_seg_map": seg * 0}) == (4, 5, 6)


@pytest.mark.parametrize("seed", range(6))
def test_random_flip_matches_mmseg_and_swaps_label_pairs(seed):
    out = run(TRANSFORMS.build(dict(type="BioMedical3DRandomFlip", prob=0.5, axes=(0, 1, 2),
                                    swap_label_pairs=[(1, 2)])), seed)
    assert list(out["do_flip"]) == list(GOLDEN["flip_do_flip"][seed]) and out["flip_axes"] == (0, 1, 2)
    np.testing.assert_array_equal(out["img"], GOLDEN[f"flip_seed{seed}_img"])
    np.testing.assert_array_equal(out["gt_seg_map"], GOLDEN[f"flip_seed{seed}_seg"])


def test_flip_reuses_an_earlier_draw_and_keeps_a_singleton_z():
    results = dict(img=np.arange(8.0).reshape(1, 1, 2, 4), gt_seg_map=np.arange(8).reshape(1, 2, 4),
                   do_flip=(False, False, True))
    out = BioMedical3DRandomFlip(prob=0.0, axes=(2,))(results)
    assert out["img"][0, 0, 0].tolist() == [3, 2, 1, 0] and out["gt_seg_map"].shape == (1, 2, 4)


def test_noise_matches_mmseg():
    np.testing.assert_array_equal(run(BioMedicalGaussianNoise(prob=1.0, std=3.0), 4)["img"], GOLDEN["noise_seed4_img"])


@pytest.mark.parametrize("name, transform, seed", [
    ("blur_seed5", BioMedicalGaussianBlur(sigma_range=(0.5, 1.5), prob=1.0, prob_per_channel=1.0), 5),
    ("blur_shared_seed6", BioMedicalGaussianBlur(sigma_range=(0.7, 2.0), prob=1.0, prob_per_channel=0.5,
                                                 different_sigma_per_channel=False, different_sigma_per_axis=False), 6),
])
def test_blur_matches_mmseg_scipy(name, transform, seed):
    np.testing.assert_allclose(run(transform, seed)["img"], GOLDEN[f"{name}_img"], rtol=1e-5, atol=1e-4)


def test_gaussian_filter_hand_case_and_mass():
    # sigma 1 -> radius 4 kernel; a unit impulse in the middle of 9 samples gives the kernel itself.
    impulse = np.zeros(9)
    impulse[4] = 1
    x = np.arange(-4, 5)
    kernel = np.exp(-0.5 * x**2) / np.exp(-0.5 * x**2).sum()
    np.testing.assert_allclose(gaussian_filter(impulse, 1.0), kernel, rtol=1e-12)
    # Mirrored borders keep the total of a constant signal, and sigma 0 leaves an axis alone.
    vol = np.random.default_rng(0).random((3, 4, 5))
    np.testing.assert_allclose(gaussian_filter(np.ones((3, 4, 5)), [0.8, 1.3, 2.0]), 1.0)
    np.testing.assert_array_equal(gaussian_filter(vol, [0, 0, 0]), vol)


@pytest.mark.parametrize("name, transform, seed", [
    ("gamma_retain_seed7", BioMedicalRandomGamma(prob=1.0, retain_stats=True), 7),
    ("gamma_invert_seed8", BioMedicalRandomGamma(prob=1.0, gamma_range=(0.7, 1.5), invert_image=True), 8),
])
def test_gamma_matches_mmseg(name, transform, seed):
    np.testing.assert_allclose(run(transform, seed)["img"], GOLDEN[f"{name}_img"], rtol=1e-6)


def test_gamma_hand_case_and_per_channel():
    # Values 0..4 span 4: gamma 2 maps v to (v / 4)^2 * 4 (up to the 1e-7 guard).
    vol = np.arange(5.0).reshape(1, 1, 1, 5)
    gamma = BioMedicalRandomGamma(prob=1.0, gamma_range=(2.0, 2.0))
    np.testing.assert_allclose(gamma({"img": vol})["img"][0, 0, 0], [0, 0.25, 1, 2.25, 4], rtol=1e-6)
    two = np.stack([vol[0], vol[0] * 10])
    out = BioMedicalRandomGamma(prob=1.0, gamma_range=(2.0, 2.0), per_channel=True, retain_stats=True)({"img": two})
    np.testing.assert_allclose(out["img"].mean(axis=(1, 2, 3)), two.mean(axis=(1, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(out["img"].std(axis=(1, 2, 3)), two.std(axis=(1, 2, 3)), rtol=1e-5)


def test_pad_matches_mmseg_and_pads_labels_and_x():
    np.testing.assert_array_equal(BioMedical3DPad(pad_shape=(4, 6, 8), pad_val=-1.0)(
        {"img": GOLDEN["pad_src"].copy()})["img"], GOLDEN["pad_img"])
    out = BioMedical3DPad(pad_shape=(5, 3, 6), pad_val=0.5, seg_pad_val=9)(
        {"img": np.ones((1, 2, 3, 3), np.float32), "gt_seg_map": np.zeros((2, 3, 3), np.uint8)})
    assert out["img"].shape == (1, 5, 3, 6) and out["pad_shape"] == (5, 3, 6)
    # Z: 3 missing -> 1 before, 2 after; X: 3 missing -> 1 before, 2 after.
    assert out["img"][0, :, 0, 2].tolist() == [0.5, 1, 1, 0.5, 0.5] and out["img"][0, 1, 0].tolist() == [
        0.5, 1, 1, 1, 0.5, 0.5]
    assert out["gt_seg_map"].shape == (5, 3, 6) and out["gt_seg_map"][0].max() == 9 and out["gt_seg_map"][1, 0, 1] == 0


@pytest.mark.parametrize("cfg, match", [
    (dict(type="BioMedical3DPad", pad_shape=(4, 4)), "pad_shape"),
    (dict(type="BioMedical3DRandomCrop", crop_shape=(4, 0, 4)), "crop_shape"),
    (dict(type="BioMedical3DRandomFlip", prob=0.5, axes=(3,)), "axes"),
    (dict(type="BioMedicalGaussianBlur", sigma_range=1.0), "sigma_range"),
    (dict(type="BioMedicalRandomGamma", per_channel=1), "per_channel"),
])
def test_bad_arguments_fail(cfg, match):
    with pytest.raises(ValueError, match=match):
        TRANSFORMS.build(cfg)


def test_a_2d_image_is_refused_with_the_loader_to_use():
    with pytest.raises(ValueError, match="LoadBiomedicalImageFromFile"):
        BioMedical3DRandomFlip(prob=1.0, axes=(0,))({"img": np.zeros((4, 4, 3))})
