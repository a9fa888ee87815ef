"""mmdet-style mask losses, match costs, point sampling, positional encoding and ground-truth conversion
on hand-computed small cases."""
from __future__ import annotations

import math

import pytest
import torch

from seglab.models.mask_classification import (
    ClassificationCost,
    CrossEntropyLoss,
    CrossEntropyLossCost,
    DiceCost,
    DiceLoss,
    FocalLoss,
    FocalLossCost,
    HungarianAssigner,
    MaskPseudoSampler,
    SinePositionalEncoding,
    get_uncertain_point_coords_with_randomness,
    point_sample,
)
from seglab.models.mask_classification.head_base import seg_data_to_instance_data, semantic_inference
from seglab.registry import ConfigError
from seglab.structures import SegDataSample

EPS = torch.finfo(torch.float32).eps


def test_dice_loss_naive_with_eps_and_avg_factor():
    pred = torch.tensor([[0.0, 0.0], [10.0, -10.0]])  # sigmoid: [.5, .5] and ~[1, 0]
    target = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    loss = DiceLoss(naive_dice=True, eps=1.0, loss_weight=2.0)(pred, target, avg_factor=4)
    first = 1 - (2 * 0.5 + 1) / (1.0 + 1 + 1)
    second = 1 - (2 * torch.sigmoid(torch.tensor(10.0)) + 1) / (1.0 + 1 + 1)  # |P| ~ 1
    assert float(loss) == pytest.approx(2.0 * (first + float(second)) / (4 + EPS), rel=1e-4)


def test_sigmoid_ce_mean_over_avg_factor_and_class_weighted_ce():
    pred, label = torch.tensor([0.0, 2.0, -1.0]), torch.tensor([1.0, 0.0, 0.0])
    bce = -(math.log(0.5) + math.log(1 - torch.sigmoid(torch.tensor(2.0)).item())
            + math.log(1 - torch.sigmoid(torch.tensor(-1.0)).item()))
    loss = CrossEntropyLoss(use_sigmoid=True, loss_weight=5.0)(pred, label, avg_factor=6)
    assert float(loss) == pytest.approx(5.0 * bce / 6, rel=1e-5)
    logits = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    target = torch.tensor([2, 0])
    weighted = CrossEntropyLoss(class_weight=[1.0, 1.0, 0.1])(logits, target, avg_factor=1.1)
    nll = [math.log(3), -math.log(math.e / (math.e + 2))]
    assert float(weighted) == pytest.approx((0.1 * nll[0] + 1.0 * nll[1]) / (1.1 + EPS), rel=1e-5)


def test_focal_loss_labels_use_num_classes_as_background():
    pred = torch.tensor([[2.0], [-1.0]])
    loss = FocalLoss(gamma=2.0, alpha=0.25, reduction="none")(pred, torch.tensor([0, 1]))  # fg, bg
    p0, p1 = torch.sigmoid(torch.tensor(2.0)).item(), torch.sigmoid(torch.tensor(-1.0)).item()
    expected = [-math.log(p0) * 0.25 * (1 - p0) ** 2, -math.log(1 - p1) * 0.75 * p1 ** 2]
    torch.testing.assert_close(loss.flatten(), torch.tensor(expected), rtol=1e-5, atol=1e-7)
    with pytest.raises(ConfigError):
        FocalLoss(use_sigmoid=False)


def test_match_costs_by_hand():
    scores = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    probs = scores.softmax(-1)
    cls = ClassificationCost(weight=2.0)(dict(scores=scores), dict(labels=torch.tensor([1])))
    torch.testing.assert_close(cls, -2.0 * probs[:, [1]])
    masks = torch.tensor([[3.0, -3.0], [0.0, 0.0]])
    gt = torch.tensor([[1, 0]])
    dice = DiceCost(pred_act=True, eps=1.0)(dict(masks=masks), dict(masks=gt))
    s = masks.sigmoid()
    expected = 1 - (2 * s[:, 0] + 1) / (s.sum(1) + 1 + 1)
    torch.testing.assert_close(dice[:, 0], expected)
    ce = CrossEntropyLossCost(weight=5.0)(dict(masks=masks), dict(masks=gt))
    bce = torch.nn.functional.binary_cross_entropy_with_logits(masks, gt.float().expand(2, 2), reduction="none")
    torch.testing.assert_close(ce[:, 0], 5.0 * bce.mean(1))
    focal = FocalLossCost(binary_input=True)(dict(masks=masks), dict(masks=gt))
    fl = FocalLoss(reduction="none")(masks.reshape(-1, 1), 1 - gt.expand(2, 2).reshape(-1)).view(2, 2)
    torch.testing.assert_close(focal[:, 0], fl.mean(1), rtol=1e-4, atol=1e-6)  # eps inside the log differs


def test_assigner_matches_each_gt_once_and_sampler_counts_positives():
    assigner = HungarianAssigner([dict(type="mmdet.ClassificationCost", weight=1.0)])
    scores = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    result = assigner.assign(dict(scores=scores), dict(labels=torch.tensor([1, 0])))
    assert result.gt_inds.tolist() == [2, 1, 0] and result.labels.tolist() == [0, 1, -1]
    sampled = MaskPseudoSampler().sample(result)
    assert sampled.pos_inds.tolist() == [0, 1] and sampled.pos_assigned_gt_inds.tolist() == [1, 0]
    assert sampled.neg_inds.tolist() == [2] and sampled.avg_factor == 2
    empty = assigner.assign(dict(scores=scores), dict(labels=torch.zeros(0, dtype=torch.long)))
    assert empty.gt_inds.tolist() == [0, 0, 0] and MaskPseudoSampler().sample(empty).avg_factor == 1


def test_point_sample_reads_pixel_centres_and_uncertain_points_are_near_zero_logits():
    img = torch.arange(12.0).view(1, 1, 3, 4)
    centres = torch.tensor([[[0.5 / 4, 0.5 / 3], [3.5 / 4, 2.5 / 3], [1.0 / 4, 0.5 / 3]]])
    torch.testing.assert_close(point_sample(img, centres), torch.tensor([[[0.0, 11.0, 0.5]]]))
    logits = torch.full((2, 1, 8, 8), 9.0)
    logits[:, :, :, 4:] = 0.0  # uncertain right half
    torch.manual_seed(0)
    coords = get_uncertain_point_coords_with_randomness(logits, None, num_points=20, oversample_ratio=3.0,
                                                        importance_sample_ratio=0.5)
    assert coords.shape == (2, 20, 2)
    assert (coords[:, :10, 0] >= 0.5 - 1 / 16).all()  # the 10 importance points lie where |logit| is small


def test_sine_positional_encoding_values():
    enc = SinePositionalEncoding(num_feats=4, normalize=True)
    pos = enc(torch.zeros(1, 2, 3, dtype=torch.bool))
    assert pos.shape == (1, 8, 2, 3)
    y = (torch.tensor([1.0, 2.0]) / (2 + 1e-6) * 2 * math.pi).view(2, 1)
    x = (torch.tensor([1.0, 2.0, 3.0]) / (3 + 1e-6) * 2 * math.pi).view(1, 3)
    torch.testing.assert_close(pos[0, 0], y.sin().expand(2, 3))  # y channels first: sin, cos, sin/100, cos/100
    torch.testing.assert_close(pos[0, 3], (y / 100).cos().expand(2, 3))
    torch.testing.assert_close(pos[0, 4], x.sin().expand(2, 3))


def test_ground_truth_masks_skip_ignore_index_and_semantic_map_formula():
    seg = torch.tensor([[[0, 0, 3], [255, 3, 3]]])
    sample = SegDataSample()
    sample.gt_sem_seg = seg
    (gt,) = seg_data_to_instance_data([sample], ignore_index=255)
    assert gt["labels"].tolist() == [0, 3]
    assert gt["masks"].tolist() == [[[1, 1, 0], [0, 0, 0]], [[0, 0, 1], [0, 1, 1]]]
    empty = SegDataSample()
    empty.gt_sem_seg = torch.full((1, 2, 3), 255)
    assert seg_data_to_instance_data([empty], 255)[0]["masks"].shape == (0, 2, 3)
    cls = torch.randn(1, 4, 3)
    masks = torch.randn(1, 4, 2, 2)
    out = semantic_inference(cls, masks, (2, 2))
    expected = (cls.softmax(-1)[0, :, :2, None, None] * masks.sigmoid()[0, :, None]).sum(0)
    torch.testing.assert_close(out[0], expected)
