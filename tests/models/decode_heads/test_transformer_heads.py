"""SETR, DPT, Segmenter heads and the MLA / Feature2Pyramid necks: shapes, semantics and argument errors."""
from __future__ import annotations

import pytest
import torch

from seglab.models.decode_heads import DPTHead, SegmenterMaskTransformerHead, SETRMLAHead, SETRUPHead
from seglab.models.necks import Feature2Pyramid, MLANeck
from seglab.registry import ConfigError

BN = dict(type="BN")


def test_setr_up_head_upsamples_by_scale_per_conv():
    head = SETRUPHead(in_channels=8, channels=4, num_classes=3, num_convs=3, up_scale=2, norm_cfg=BN).eval()
    with torch.no_grad():
        out = head([torch.randn(1, 8, 3, 5)])
    assert out.shape == (1, 3, 24, 40)
    with pytest.raises(ConfigError, match="kernel_size"):
        SETRUPHead(in_channels=8, channels=4, num_classes=3, kernel_size=5)


def test_setr_mla_head_checks_its_channels():
    with pytest.raises(ConfigError, match=r"len\(in_channels\) \* mla_channels"):
        SETRMLAHead(in_channels=(8, 8), in_index=(0, 1), channels=10, mla_channels=4, num_classes=3)
    with pytest.raises(ConfigError, match="multiple_select"):
        SETRMLAHead(in_channels=(8, 8), in_index=(0, 1), channels=8, mla_channels=4, num_classes=3,
                    input_transform="resize_concat")


def test_mla_neck_sums_top_down():
    neck = MLANeck(in_channels=[4, 4], out_channels=4).eval()
    with torch.no_grad():
        for conv in list(neck.mla.channel_proj) + list(neck.mla.feat_extract):
            conv.conv.weight.zero_()
            conv.conv.bias.fill_(1.0)
        outs = neck([torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3)])
    # projections give 1 everywhere; the running sums are 1 and 2 before the (zeroed) 3x3 convs -> biases
    assert len(outs) == 2 and all(torch.all(o == 1.0) for o in outs)
    with pytest.raises(ValueError, match="expected 2 input maps"):
        neck([torch.randn(1, 4, 3, 3)])


def test_feature2pyramid_scales_and_rejects_bad_rescales():
    neck = Feature2Pyramid(embed_dim=4, rescales=[4, 2, 1, 0.5], norm_cfg=BN).eval()
    with torch.no_grad():
        outs = neck([torch.randn(1, 4, 4, 4)] * 4)
    assert [tuple(o.shape[-2:]) for o in outs] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    with pytest.raises(ConfigError, match="invalid"):
        Feature2Pyramid(embed_dim=4, rescales=[3, 1])
    with pytest.raises(ConfigError, match="prefix"):
        Feature2Pyramid(embed_dim=4, rescales=[4, 2, 1, 0.25], norm_cfg=BN)


def test_dpt_head_needs_cls_tokens_for_project_readout_and_refuses_expand_channels():
    kw = dict(in_channels=(8,) * 4, in_index=(0, 1, 2, 3), input_transform="multiple_select", channels=4,
              embed_dims=8, post_process_channels=[4, 4, 8, 8], num_classes=3, norm_cfg=BN)
    head = DPTHead(readout_type="project", **kw).eval()
    maps = [torch.randn(1, 8, 2, 2) for _ in range(4)]
    with pytest.raises(ValueError, match="output_cls_token=True"):
        head(maps)
    with torch.no_grad():
        out = head([[m, torch.randn(1, 8)] for m in maps])
    assert out.shape == (1, 3, 16, 16)
    with pytest.raises(ConfigError, match="expand_channels"):
        DPTHead(expand_channels=True, **kw)
    with pytest.raises(ConfigError, match="readout_type"):
        DPTHead(readout_type="mean", **kw)


def test_segmenter_masks_are_normalised_cosine_similarities():
    head = SegmenterMaskTransformerHead(in_channels=8, channels=8, num_classes=3, num_layers=1, num_heads=2,
                                        embed_dims=8, dropout_ratio=0.0).eval()
    assert not hasattr(head, "conv_seg")
    captured = {}
    head.mask_norm.register_forward_pre_hook(lambda m, args: captured.setdefault("masks", args[0]))
    with torch.no_grad():
        out = head([torch.randn(2, 8, 3, 4)])
    assert out.shape == (2, 3, 3, 4)
    assert captured["masks"].abs().max() <= 1 + 1e-6  # products of unit vectors
    # mask_norm is a LayerNorm over the classes: each pixel's logits have mean = its bias mean
    torch.testing.assert_close(out.mean(1), torch.full((2, 3, 4), float(head.mask_norm.bias.mean())),
                               atol=1e-5, rtol=1e-5)
