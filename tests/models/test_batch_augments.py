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
