"""RandomMosaic: image and label pixels stay paired with their source position; indices in range."""
import numpy as np
import pytest

from seglab.datasets.transforms import RandomMosaic


def coded_sample(src: int, h: int, w: int) -> dict:
    """Image channels (src+1, y, x); label src*64 + y*8 + x (unique, never the pad value 255)."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([np.full((h, w), src + 1), y, x], -1).astype(np.uint8)
    label = (src * 64 + y * 8 + x).astype(np.uint8)
    return dict(img=img, gt_seg_map=label, seg_fields=["gt_seg_map"], img_shape=(h, w), ori_shape=(h, w))


@pytest.mark.parametrize("seed", range(8))
def test_every_label_pixel_matches_its_image_pixel_without_resizing(seed):
    np.random.seed(seed)
    results = coded_sample(0, 7, 8)
    results["mix_results"] = [coded_sample(i, 7, 8) for i in (1, 2, 3)]
    out = RandomMosaic(prob=1.0, img_scale=(7, 8), center_ratio_range=(0.5, 1.5))(results)
    img, seg = out["img"], out["gt_seg_map"]
    assert img.shape == (14, 16, 3) and seg.shape == (14, 16) and out["img_shape"] == (14, 16)
    covered = seg != 255
    assert np.array_equal(covered, img[..., 0] != 0)  # padding is padding in both
    src, y, x = img[..., 0].astype(int) - 1, img[..., 1].astype(int), img[..., 2].astype(int)
    assert np.array_equal(seg[covered], (src * 64 + y * 8 + x)[covered])
    # Each quadrant holds its own source: top-left 0, top-right 1, bottom-left 2, bottom-right 3.
    assert set(np.unique(src[covered])) <= {0, 1, 2, 3} and covered.any()


@pytest.mark.parametrize("seed", range(4))
def test_sources_of_other_sizes_are_resized_consistently(seed):
    np.random.seed(seed)
    sizes = [(7, 8), (14, 10), (5, 20), (30, 30)]
    samples = [coded_sample(i, *sizes[i]) for i in range(4)]
    for i, s in enumerate(samples):
        s["gt_seg_map"] = np.full(sizes[i], i, np.uint8)  # bilinear keeps a constant channel exact
    samples[0]["mix_results"] = samples[1:]
    out = RandomMosaic(prob=1.0, img_scale=(16, 16), pad_val=0, seg_pad_val=255)(samples[0])
    covered = out["gt_seg_map"] != 255
    assert np.array_equal(covered, out["img"][..., 0] != 0)
    assert np.array_equal(out["gt_seg_map"][covered], out["img"][..., 0][covered] - 1)


def test_prob_zero_is_identity_and_missing_mix_results_is_explained():
    results = coded_sample(0, 7, 8)
    assert RandomMosaic(prob=0.0)(dict(results))["img"] is results["img"]
    with pytest.raises(ValueError, match="MultiImageMixDataset"):
        RandomMosaic(prob=1.0)(results)


def test_get_indices_stay_inside_the_dataset():
    np.random.seed(0)
    mosaic = RandomMosaic(prob=1.0)
    seen = {i for _ in range(300) for i in mosaic.get_indices(list(range(4)))}
    assert seen == {0, 1, 2, 3}
