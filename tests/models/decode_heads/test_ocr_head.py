"""OCRHead: hand-checked class gathering and attention, MMSeg's key layout, prev_output checks, cascade loss."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seglab.models.decode_heads import BaseCascadeDecodeHead, OCRHead
from seglab.models.decode_heads.ocr_head import ObjectAttentionBlock, SpatialGatherModule
from seglab.registry import ConfigError
from seglab.structures import SegDataSample

BN = dict(type="BN")


def test_spatial_gather_is_a_softmax_weighted_mean_per_class():
    feats = torch.arange(2 * 2 * 3, dtype=torch.float32).reshape(1, 2, 2, 3)  # channel 0: 0..5, channel 1: 6..11
    probs = torch.zeros(1, 2, 2, 3)
    probs[0, 1, 1, 2] = 100.0  # class 1 is sure about the last position only
    context = SpatialGatherModule(scale=1)(feats, probs)
    assert tuple(context.shape) == (1, 2, 2, 1)
    # Class 0: equal logits everywhere -> the plain mean; class 1: (almost) the last position's features.
    torch.testing.assert_close(context[0, :, 0, 0], torch.tensor([2.5, 8.5]))
    torch.testing.assert_close(context[0, :, 1, 0], torch.tensor([5.0, 11.0]))
    # scale multiplies the logits before the softmax: probs 0/1 become a sharper weighting.
    soft = torch.zeros(1, 1, 1, 2)
    soft[0, 0, 0, 1] = 1.0
    two = torch.tensor([[[[0.0, 1.0]]]])
    for scale in (1, 3):
        w = torch.softmax(torch.tensor([0.0, float(scale)]), 0)
        torch.testing.assert_close(SpatialGatherModule(scale)(two, soft)[0, 0, 0, 0], w[1])


def test_object_attention_matches_a_hand_written_attention():
    torch.manual_seed(0)
    block = ObjectAttentionBlock(6, 4, scale=1, conv_cfg=None, norm_cfg=None, act_cfg=dict(type="ReLU")).eval()
    q, k = torch.randn(2, 6, 3, 5), torch.randn(2, 6, 7, 1)
    query = block.query_project(q).flatten(2).transpose(1, 2)  # (N, 15, 4)
    key = block.key_project(k).flatten(2)  # (N, 4, 7)
    value = block.value_project(k).flatten(2).transpose(1, 2)  # (N, 7, 4)
    attn = torch.softmax(query @ key / 2.0, dim=-1)  # matmul_norm: channels ** -0.5 = 1/2
    context = block.out_project((attn @ value).transpose(1, 2).reshape(2, 4, 3, 5))
    expected = block.bottleneck(torch.cat([context, q], dim=1))
    with torch.no_grad():
        torch.testing.assert_close(block(q, k), expected)
    pooled = ObjectAttentionBlock(6, 4, scale=2, conv_cfg=None, norm_cfg=BN, act_cfg=dict(type="ReLU")).eval()
    assert tuple(pooled(torch.randn(1, 6, 8, 10), k[:1]).shape) == (1, 6, 8, 10)


def test_key_layout_and_forward_shape():
    head = OCRHead(in_channels=[8, 16], in_index=[0, 1], input_transform="resize_concat", channels=12,
                   ocr_channels=6, num_classes=5, norm_cfg=BN)
    assert isinstance(head, BaseCascadeDecodeHead)
    keys = [k for k in head.state_dict() if not k.startswith("loss")]
    assert keys[:2] == ["conv_seg.weight", "conv_seg.bias"]
    for key in ("object_context_block.key_project.0.conv.weight", "object_context_block.query_project.1.bn.weight",
                "object_context_block.value_project.conv.weight", "object_context_block.out_project.bn.bias",
                "object_context_block.bottleneck.conv.weight", "bottleneck.conv.weight", "bottleneck.bn.running_var"):
        assert key in keys, key
    assert tuple(head.bottleneck.conv.weight.shape) == (12, 24, 3, 3)
    assert tuple(head.object_context_block.bottleneck.conv.weight.shape) == (12, 24, 1, 1)
    feats = [torch.randn(2, 8, 9, 11), torch.randn(2, 16, 5, 6)]
    assert tuple(head.eval()(feats, torch.randn(2, 5, 9, 11)).shape) == (2, 5, 9, 11)


def test_prev_output_of_another_size_fails_with_the_reason():
    head = OCRHead(in_channels=16, channels=8, ocr_channels=4, num_classes=5, norm_cfg=BN).eval()
    with pytest.raises(ValueError, match=r"prev_output is \(4, 4\) but the features are \(5, 6\)"):
        head([torch.randn(1, 16, 5, 6)], torch.randn(1, 5, 4, 4))
    with pytest.raises(ConfigError, match="scale must be an int >= 1"):
        OCRHead(in_channels=16, channels=8, ocr_channels=4, num_classes=5, scale=0)


def test_loss_and_predict_take_the_previous_logits():
    torch.manual_seed(0)
    head = OCRHead(in_channels=16, channels=8, ocr_channels=4, num_classes=3, norm_cfg=BN, dropout_ratio=0.0).eval()
    feats, prev = [torch.randn(1, 16, 4, 4)], torch.randn(1, 3, 4, 4)
    label = torch.randint(0, 3, (1, 8, 8))
    losses = head.loss(feats, prev, [SegDataSample(gt_sem_seg=label)], {})
    logits = F.interpolate(head(feats, prev), size=(8, 8), mode="bilinear", align_corners=False)
    torch.testing.assert_close(losses["loss_ce"], F.cross_entropy(logits, label))
    pred = head.predict(feats, prev, [dict(img_shape=(8, 8), pad_shape=(8, 8))], {})
    torch.testing.assert_close(pred, logits)
