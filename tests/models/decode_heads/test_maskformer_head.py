"""MaskFormerHead: per-layer outputs without data samples, the decoder input projection rule, training
steps lower the focal/Dice/CE matched loss, and the transformer-encoder pixel decoder's padding mask."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import seglab.models  # noqa: F401 - registration
from seglab.models.mask_classification import TransformerEncoderPixelDecoder
from seglab.registry import MODELS
from seglab.structures import SegDataSample


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One intra-op thread: these tensors are tiny, and threads only wait for each other on a loaded CPU."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


ATTN = dict(embed_dims=16, num_heads=2, attn_drop=0.0, proj_drop=0.0, dropout_layer=None, batch_first=True)
ENCODER = dict(num_layers=1, layer_cfg=dict(self_attn_cfg=dict(embed_dims=16, num_heads=2, dropout=0.0),
                                           ffn_cfg=dict(embed_dims=16, feedforward_channels=24)))


def tiny_head(pixel_decoder: dict | None = None, **overrides) -> dict:
    cfg = dict(
        type="MaskFormerHead", in_channels=[8, 16, 32, 64], feat_channels=16, out_channels=16, num_classes=3,
        num_queries=5, pixel_decoder=pixel_decoder or dict(type="mmdet.PixelDecoder",
                                                          norm_cfg=dict(type="GN", num_groups=4)),
        positional_encoding=dict(num_feats=8, normalize=True),
        transformer_decoder=dict(return_intermediate=True, num_layers=2, layer_cfg=dict(
            self_attn_cfg=ATTN, cross_attn_cfg=ATTN, ffn_cfg=dict(embed_dims=16, feedforward_channels=24))),
        loss_cls=dict(type="mmdet.CrossEntropyLoss", class_weight=[1.0, 1.0, 1.0, 0.1]),
        loss_mask=dict(type="mmdet.FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=20.0),
        loss_dice=dict(type="mmdet.DiceLoss", use_sigmoid=True, activate=True, naive_dice=True, eps=1.0),
        train_cfg=dict(assigner=dict(type="mmdet.HungarianAssigner", match_costs=[
            dict(type="mmdet.ClassificationCost", weight=1.0),
            dict(type="mmdet.FocalLossCost", weight=20.0, binary_input=True),
            dict(type="mmdet.DiceCost", weight=1.0, pred_act=True, eps=1.0)]),
            sampler=dict(type="mmdet.MaskPseudoSampler")))
    cfg.update(overrides)
    return cfg


def features(batch: int = 2, size: int = 64) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(batch, c, size // s, size // s, generator=gen) for c, s in zip((8, 16, 32, 64), (4, 8, 16, 32))]


def test_outputs_per_layer_and_decoder_input_projection():
    head = MODELS.build(tiny_head()).eval()
    assert isinstance(head.decoder_input_proj, nn.Conv2d)  # PixelDecoder memory is the raw 64-channel level
    with torch.no_grad():
        cls_list, mask_list = head(features())
        seg = head.predict(features(), [dict(img_shape=(64, 64), pad_shape=(64, 64))] * 2)
    assert [tuple(c.shape) for c in cls_list] == [(2, 5, 4)] * 2
    assert [tuple(m.shape) for m in mask_list] == [(2, 5, 16, 16)] * 2
    assert seg.shape == (2, 3, 64, 64) and (seg >= 0).all() and (seg.sum(1) <= 5 + 1e-4).all()
    encoder_head = MODELS.build(tiny_head(dict(type="mmdet.TransformerEncoderPixelDecoder",
                                               norm_cfg=dict(type="GN", num_groups=4), encoder=ENCODER,
                                               positional_encoding=dict(num_feats=8, normalize=True))))
    assert isinstance(encoder_head.decoder_input_proj, nn.Identity)  # its memory already has feat_channels
    assert "pixel_decoder.last_feat_conv.conv.weight" not in encoder_head.state_dict()


def test_training_steps_lower_the_matched_loss():
    torch.manual_seed(0)
    head = MODELS.build(tiny_head()).train()
    labels = torch.zeros(2, 1, 64, 64, dtype=torch.long)
    labels[0, :, 32:] = 2
    labels[1, :, 10:30, 10:50] = 1
    labels[1, :, :, :4] = 255
    samples = []
    for lab in labels:
        sample = SegDataSample(metainfo=dict(img_shape=(64, 64), pad_shape=(64, 64)))
        sample.gt_sem_seg = lab
        samples.append(sample)
    feats = features()
    optimizer = torch.optim.AdamW(head.parameters(), lr=3e-3)
    values = []
    for _ in range(12):
        losses = head.loss(feats, samples)
        loss = sum(losses.values())
        values.append(float(loss.detach()))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert set(losses) == {f"{p}loss_{k}" for p in ("", "d0.") for k in ("cls", "mask", "dice")}
    assert values[-1] < 0.85 * values[0] and values[-1] == min(values), values


def test_transformer_encoder_pixel_decoder_masks_padded_pixels():
    torch.manual_seed(0)
    decoder = TransformerEncoderPixelDecoder([8, 16, 32, 64], 16, 16, norm_cfg=dict(type="GN", num_groups=4),
                                             encoder=ENCODER, positional_encoding=dict(num_feats=8, normalize=True))
    decoder.eval()
    feats = features(batch=1)
    metas = [dict(img_shape=(32, 64), batch_input_shape=(64, 64))]  # bottom half is padding
    changed = [f.clone() for f in feats]
    changed[-1][:, :, 1:] += 5.0  # the padded row of the last level
    with torch.no_grad():
        _, memory = decoder(feats, metas)
        _, memory_changed = decoder(changed, metas)
        _, unpadded = decoder(changed)
    # valid tokens never attend to padded keys: their memory ignores what the padding holds
    torch.testing.assert_close(memory[:, :, :1], memory_changed[:, :, :1])
    assert not torch.allclose(unpadded[:, :, :1], memory_changed[:, :, :1])
