"""Batch augmentations in SegDataPreProcessor: images and labels stay aligned; nothing happens in eval."""
import pytest
import torch

import seglab.models  # noqa: F401 - registration
from seglab.models.batch_augments import BatchColorJitter, BatchRandomFlip
from seglab.registry import MODELS
from seglab.structures import SegDataSample


def coded_batch(n: int = 6, h: int = 5, w: int = 7) -> dict:
    """Image channel 0 = x coordinate, channel 1 = y; label = y * w + x (so both can be checked)."""
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    img = torch.stack([x, y, torch.zeros_like(x)]).to(torch.uint8)
    label = (y * w + x)[None].long()
    samples = [SegDataSample(metainfo=dict(ori_shape=(h, w), img_shape=(h, w)), gt_sem_seg=label.clone())
               for _ in range(n)]
    return dict(inputs=[img.clone() for _ in range(n)], data_samples=samples)


def preprocessor(augs):
    return MODELS.build(dict(type="SegDataPreProcessor", mean=[0, 0, 0], std=[1, 1, 1], size_divisor=8,
                             batch_augments=augs))


@pytest.mark.parametrize("direction", ["horizontal", "vertical"])
def test_flip_keeps_images_and_labels_aligned(direction):
    torch.manual_seed(0)
    out = preprocessor([dict(type="BatchRandomFlip", prob=0.5, direction=direction)])(coded_batch(), training=True)
    x, y = out["inputs"][:, 0], out["inputs"][:, 1]
    flipped = 0
    for i, sample in enumerate(out["data_samples"]):
        label = sample.gt_sem_seg.data[0]
        valid = label != 255
        assert torch.equal(label[valid], (y[i] * 7 + x[i])[valid].long())
        # Padded to 8x8; a flipped sample has its padding on the left/top.
        flipped += int(not valid[0, 0])
        assert valid.sum() == 35
    assert 0 < flipped < 6


def test_flip_prob_one_flips_everything_and_zero_nothing():
    batch = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).view(2, 1, 2, 3)
    samples = [SegDataSample(gt_sem_seg=torch.arange(6).view(1, 2, 3)) for _ in range(2)]
    out, s = BatchRandomFlip(prob=1.0)(batch.clone(), samples)
    assert torch.equal(out, batch.flip(-1)) and torch.equal(s[1].gt_sem_seg.data, torch.arange(6).view(1, 2, 3).flip(-1))
    out, _ = BatchRandomFlip(prob=0.0)(batch.clone(), samples)
    assert torch.equal(out, batch)


def test_color_jitter_changes_images_not_labels_and_keeps_statistics_rules():
    torch.manual_seed(0)
    batch = torch.randn(4, 3, 6, 6)
    samples = [SegDataSample(gt_sem_seg=torch.zeros(1, 6, 6, dtype=torch.long)) for _ in range(4)]
    out, s = BatchColorJitter(contrast=0.5)(batch, samples)
    # Contrast alone keeps each image's mean and scales its deviation by one factor per image.
    torch.testing.assert_close(out.mean((1, 2, 3)), batch.mean((1, 2, 3)), rtol=1e-5, atol=1e-5)
    ratio = (out - out.mean((1, 2, 3), keepdim=True)) / (batch - batch.mean((1, 2, 3), keepdim=True))
    assert torch.allclose(ratio, ratio[:, :1, :1, :1].expand_as(ratio), atol=1e-3)
    assert not torch.allclose(out, batch) and all(x.gt_sem_seg.data.sum() == 0 for x in s)
    out, _ = BatchColorJitter(brightness=1.0, saturation=0.5, prob=0.0)(batch, samples)
    assert torch.equal(out, batch)


def test_batch_augments_are_no_ops_in_eval():
    torch.manual_seed(0)
    pre = preprocessor([dict(type="BatchRandomFlip", prob=1.0), dict(type="BatchColorJitter", brightness=2.0)])
    plain = preprocessor(None)
    data = coded_batch(2)
    a = pre(coded_batch(2), training=False)
    b = plain(data, training=False)
    assert torch.equal(a["inputs"], b["inputs"])
    assert torch.equal(a["data_samples"][0].gt_sem_seg.data, b["data_samples"][0].gt_sem_seg.data)
    trained = pre(coded_batch(2), training=True)
    assert not torch.equal(trained["inputs"][:, :, :5, :7], b["inputs"])


def block_batch(n: int = 2, size: int = 16, block: int = 4) -> dict:
    """Image = 10 * label in every channel; label = a 4x4 grid of blocks with ids 0..15."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    label = (y // block) * (size // block) + x // block
    img = (label * 10).to(torch.uint8).expand(3, -1, -1)
    samples = [SegDataSample(metainfo=dict(ori_shape=(size, size), img_shape=(size, size)),
                             gt_sem_seg=label[None].clone()) for _ in range(n)]
    return dict(inputs=[img.clone() for _ in range(n)], data_samples=samples)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_resize_keeps_images_and_labels_aligned(seed):
    torch.manual_seed(seed)
    pre = MODELS.build(dict(type="SegDataPreProcessor", mean=[0, 0, 0], std=[1, 1, 1],
                            batch_augments=[dict(type="BatchRandomResize", ratio_range=(0.6, 1.8))]))
    out = pre(block_batch(), training=True)
    n, _, h, w = out["inputs"].shape
    assert (h, w) != (16, 16) and h == w and 9 <= h <= 29
    labels = torch.stack([s.gt_sem_seg.data for s in out["data_samples"]])
    assert labels.shape == (n, 1, h, w) and labels.dtype == torch.int64
    assert set(labels.unique().tolist()) <= set(range(16))  # nearest: no blended label values
    # inside each block (label constant in a 3x3 neighbourhood) the bilinear image equals 10 * label
    padded = torch.nn.functional.pad(labels.float(), (1, 1, 1, 1), mode="replicate")
    lo = -torch.nn.functional.max_pool2d(-padded, 3, stride=1)
    hi = torch.nn.functional.max_pool2d(padded, 3, stride=1)
    interior = lo == hi
    assert interior.float().mean() > 0.3
    torch.testing.assert_close(out["inputs"][:, :1][interior], labels[interior].float() * 10)
    assert out["data_samples"][0].batch_input_shape == (h, w)
    assert out["data_samples"][0].img_shape == (h, w)


def test_random_resize_size_divisor_prob_and_eval():
    from seglab.models.batch_augments import BatchRandomResize

    aug = BatchRandomResize(ratio_range=(1.1, 1.1), size_divisor=8)
    assert aug.target_size(16, 20, 1.1) == (24, 24)
    data = block_batch()
    inputs = torch.stack(data["inputs"]).float()
    same, _ = BatchRandomResize(ratio_range=(2, 2), prob=0.0)(inputs, data["data_samples"])
    assert same is inputs
    pre = MODELS.build(dict(type="SegDataPreProcessor",
                            batch_augments=[dict(type="BatchRandomResize", ratio_range=(2, 2))]))
    assert pre(block_batch(), training=False)["inputs"].shape[-2:] == (16, 16)
    out = pre(block_batch(), training=True)
    assert out["inputs"].shape[-2:] == (32, 32)
    # ratio 2 with nearest: every label pixel becomes a 2x2 block
    src = block_batch()["data_samples"][0].gt_sem_seg.data
    torch.testing.assert_close(out["data_samples"][0].gt_sem_seg.data, src.repeat_interleave(2, 1).repeat_interleave(2, 2))
    with pytest.raises(ValueError, match="ratio_range"):
        BatchRandomResize(ratio_range=(2, 1))
