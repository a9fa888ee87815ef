"""PhotoMetricDistortion: bounded, image-only changes."""
from __future__ import annotations

import numpy as np

from seglab.datasets.transforms import PhotoMetricDistortion


def test_brightness_only_is_a_uniform_bounded_shift() -> None:
    t = PhotoMetricDistortion(brightness_delta=10, contrast_range=(1, 1), saturation_range=(1, 1), hue_delta=0)
    values = set()
    for seed in range(40):
        np.random.seed(seed)
        out = t(dict(img=np.full((4, 4, 3), 100, np.uint8)))["img"]
        assert out.dtype == np.uint8 and out.shape == (4, 4, 3)
        assert len(np.unique(out)) == 1 and 90 <= out[0, 0, 0] <= 110
        values.add(int(out[0, 0, 0]))
    assert 100 in values and len(values) > 3  # sometimes unchanged (p=0.5), sometimes shifted


def test_masks_untouched_and_colour_changes() -> None:
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (8, 8, 3)).astype(np.uint8)
    seg = rng.randint(0, 5, (8, 8)).astype(np.uint8)
    t = PhotoMetricDistortion()
    changed = 0
    for seed in range(20):
        np.random.seed(seed)
        r = t(dict(img=img.copy(), gt_seg_map=seg.copy(), seg_fields=["gt_seg_map"]))
        np.testing.assert_array_equal(r["gt_seg_map"], seg)
        assert r["img"].shape == img.shape
        changed += not np.array_equal(r["img"], img)
    assert changed >= 15
    assert "hue_delta=18" in repr(t)
