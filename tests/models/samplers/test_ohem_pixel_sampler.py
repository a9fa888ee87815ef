"""OHEMPixelSampler: keeps low-confidence or high-loss pixels, never ignored ones; built from a head config."""
import torch

import seglab.models  # noqa: F401 - registration
from seglab.models.decode_heads import FCNHead
from seglab.registry import MODELS
from seglab.structures import SegDataSample


def make_head(**sampler):
    return FCNHead(in_channels=4, channels=4, num_classes=3, num_convs=0, concat_input=False,
                   sampler=dict(type="OHEMPixelSampler", **sampler))


def logits_and_label():
    # Ground-truth probability rises along the row: pixel j has logit j for its true class 0.
    logits = torch.zeros(1, 3, 1, 6)
    logits[0, 0, 0] = torch.arange(6.0)
    label = torch.zeros(1, 1, 1, 6, dtype=torch.long)
    label[0, 0, 0, 0] = 255
    return logits, label


def test_threshold_mode_keeps_low_confidence_pixels_and_at_least_min_kept():
    logits, label = logits_and_label()
    probs = logits.softmax(1)[0, 0, 0]
    head = make_head(thresh=float(probs[3]), min_kept=2)
    weight = head.sampler.sample(logits, label)
    assert weight.tolist() == [[[0.0, 1.0, 1.0, 0.0, 0.0, 0.0]]]  # prob < thresh; pixel 0 is ignored
    head = make_head(thresh=0.0, min_kept=3)  # the threshold rises to keep min_kept pixels
    assert head.sampler.sample(logits, label).tolist() == [[[0.0, 1.0, 1.0, 1.0, 0.0, 0.0]]]


def test_loss_mode_keeps_min_kept_highest_losses():
    logits, label = logits_and_label()
    weight = make_head(min_kept=2).sampler.sample(logits, label)
    assert weight.tolist() == [[[0.0, 1.0, 1.0, 0.0, 0.0, 0.0]]]


def test_head_loss_uses_sampler_weights():
    head = MODELS.build(dict(type="FCNHead", in_channels=4, channels=4, num_classes=3, num_convs=0,
                             concat_input=False, dropout_ratio=0, sampler=dict(type="OHEMPixelSampler", min_kept=2)))
    feats = [torch.randn(1, 4, 4, 4)]
    samples = [SegDataSample(gt_sem_seg=torch.randint(0, 3, (1, 4, 4)))]
    losses = head.loss(feats, samples)
    logits = head(feats)
    per_pixel = torch.nn.functional.cross_entropy(logits, samples[0].gt_sem_seg.data, reduction="none")
    assert torch.allclose(losses["loss_ce"], per_pixel.flatten().topk(2).values.sum() / 16)
