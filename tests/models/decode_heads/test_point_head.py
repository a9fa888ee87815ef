"""PointHead (PointRend): uncertain point selection, subdivision inference and point losses, by hand.

Its outputs in a full model are checked against MMSeg 1.2.2 in tests/models/test_realtime_variants.py.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seglab.models.decode_heads import PointHead
from seglab.models.decode_heads.point_head import calculate_uncertainty
from seglab.models.layers import resize
from seglab.registry import ConfigError
from seglab.structures import SegDataSample

TEST_CFG = dict(mode="whole", subdivision_steps=1, subdivision_num_points=5, scale_factor=2)


def _head(**kw) -> PointHead:
    torch.manual_seed(0)
    return PointHead(in_channels=[4], in_index=[0], channels=6, num_fcs=2, num_classes=3, dropout_ratio=-1,
                     **kw).eval()


def test_uncertainty_is_second_minus_best_logit():
    logits = torch.tensor([[1.0, 5.0], [4.0, 4.5], [0.0, -1.0]]).reshape(1, 3, 1, 2)  # classes x pixels
    torch.testing.assert_close(calculate_uncertainty(logits), torch.tensor([[[[-3.0, -0.5]]]]))


def test_get_points_test_picks_the_most_uncertain_pixels_at_their_centres():
    logits = torch.zeros(1, 3, 2, 4)
    logits[:, 0] = 10.0  # confident everywhere ...
    logits[0, 1, 1, 2] = 10.0  # ... except two ties: pixel (1, 2) and, nearly, (0, 3)
    logits[0, 2, 0, 3] = 9.0
    idx, points = _head().get_points_test(logits, num_points=2)
    assert idx.tolist() == [[6, 3]]
    torch.testing.assert_close(points, torch.tensor([[[2.5 / 4, 1.5 / 2], [3.5 / 4, 0.5 / 2]]]))


def test_get_points_train_prefers_uncertain_points_and_tops_up_with_random_ones():
    logits = torch.zeros(2, 3, 8, 8)
    logits[:, 0, :, 4:] = 20.0  # the right half is confident, the left half a three-way tie
    cfg = dict(num_points=32, oversample_ratio=4, importance_sample_ratio=0.75)
    torch.manual_seed(1)
    points = _head().get_points_train(logits, cfg)
    assert tuple(points.shape) == (2, 32, 2)
    assert (points >= 0).all() and (points <= 1).all()
    # The 24 importance-sampled points lie where bilinear sampling still sees the tie (x < 0.5 + half a pixel).
    assert (points[:, :24, 0] < 0.5 + 1 / 16).all()
    with pytest.raises(ConfigError, match="train_cfg.num_points"):
        _head().get_points_train(logits, {})


def test_subdivision_refines_exactly_the_most_uncertain_points():
    head = _head()
    feats = [torch.randn(1, 4, 8, 8)]
    prev = torch.randn(1, 3, 4, 4)
    metas = [dict(img_shape=(8, 8), pad_shape=(8, 8), ori_shape=(8, 8))]
    with torch.no_grad():
        refined = head.predict(feats, prev, metas, TEST_CFG)
    upsampled = resize(prev, scale_factor=2, mode="bilinear", align_corners=False)
    changed = (refined != upsampled).any(dim=1).flatten()
    idx, points = head.get_points_test(upsampled, 5)
    assert changed.nonzero().flatten().tolist() == sorted(idx[0].tolist())
    # The refined values are the point MLP's on (fine features, coarse logits) sampled at the pixel centres.
    grid = 2 * points.unsqueeze(2) - 1
    fine = F.grid_sample(feats[0], grid, align_corners=False).squeeze(3)
    coarse = F.grid_sample(prev, grid, align_corners=False).squeeze(3)
    with torch.no_grad():
        expected = head.forward_points(fine, coarse)
    torch.testing.assert_close(refined.flatten(2)[:, :, idx[0]], expected)
    with pytest.raises(ConfigError, match="test_cfg.subdivision_steps"):
        head.predict(feats, prev, metas, dict(mode="whole"))


def test_forward_re_predicts_every_pixel_of_the_coarse_logits():
    head = _head()
    feats, prev = [torch.randn(1, 4, 6, 6)], torch.randn(1, 3, 3, 3)
    with torch.no_grad():
        dense = head(feats, prev)
        # subdivision at scale 1 with enough points re-predicts every pixel the same way
        again = head.predict(feats, prev, [dict(img_shape=(3, 3))],
                             dict(subdivision_steps=1, subdivision_num_points=100, scale_factor=1))
    assert dense.shape == prev.shape
    torch.testing.assert_close(dense, again)


def test_point_loss_is_cross_entropy_at_the_nearest_labels():
    head = _head()
    head.train()
    gt = torch.tensor([[0, 1, 2, 255], [2, 2, 1, 0]])
    samples = [SegDataSample(metainfo={}, gt_sem_seg=gt[None])]
    points = torch.tensor([[[0.1, 0.2], [0.6, 0.3], [0.9, 0.9], [0.4, 0.7]]])  # (x, y)
    logits = torch.randn(1, 3, 4, requires_grad=True)
    losses = head.loss_by_feat(logits, points, samples)
    assert set(losses) == {"pointloss_ce", "acc_point"}
    labels = torch.tensor([[0, 2, 0, 2]])  # the pixels whose cells hold the points; none is ignored
    torch.testing.assert_close(losses["pointloss_ce"], F.cross_entropy(logits, labels))
    ignored = head.loss_by_feat(logits[:, :, :1], torch.tensor([[[0.9, 0.1]]]), samples)  # pixel (0, 3): 255
    assert ignored["pointloss_ce"].item() == 0.0


def test_point_head_layout_matches_mmseg():
    head = PointHead(in_channels=[4, 5], in_index=[0, 1], channels=6, num_fcs=2, num_classes=3)
    shapes = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    assert shapes == {"fcs.0.conv.weight": (6, 12, 1), "fcs.0.conv.bias": (6,),
                      "fcs.1.conv.weight": (6, 9, 1), "fcs.1.conv.bias": (6,),
                      "fc_seg.weight": (3, 9, 1), "fc_seg.bias": (3,)}
    assert head.input_transform == "multiple_select" and not hasattr(head, "conv_seg")
