"""Mask2FormerHead in a segmentor: tensor mode without data samples, predict at ori_shape, a few training
steps with the Hungarian-matched point losses lower the loss, and argument checks."""
from __future__ import annotations

import pytest
import torch

import seglab.models  # noqa: F401 - registration
from seglab.registry import MODELS, ConfigError
from seglab.structures import SegDataSample


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One intra-op thread: these tensors are tiny, and threads only wait for each other on a loaded CPU."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_head(**overrides) -> dict:
    """A 3-level Mask2Former with 16 channels, 4 queries and 3 classes (fast on CPU)."""
    attn = dict(embed_dims=16, num_heads=2, attn_drop=0.0, proj_drop=0.0, dropout_layer=None, batch_first=True)
    cfg = dict(
        type="Mask2FormerHead", in_channels=[8, 16, 32, 64], strides=[4, 8, 16, 32], feat_channels=16, out_channels=16,
        num_classes=3, num_queries=4, num_transformer_feat_level=3,
        pixel_decoder=dict(
            type="mmdet.MSDeformAttnPixelDecoder", num_outs=3, norm_cfg=dict(type="GN", num_groups=4),
            encoder=dict(num_layers=1, layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=16, num_heads=2, num_levels=3, num_points=2, dropout=0.0),
                ffn_cfg=dict(embed_dims=16, feedforward_channels=24))),
            positional_encoding=dict(num_feats=8, normalize=True)),
        positional_encoding=dict(num_feats=8, normalize=True),
        transformer_decoder=dict(return_intermediate=True, num_layers=3, layer_cfg=dict(
            self_attn_cfg=attn, cross_attn_cfg=attn, ffn_cfg=dict(embed_dims=16, feedforward_channels=24))),
        loss_cls=dict(type="mmdet.CrossEntropyLoss", use_sigmoid=False, loss_weight=2.0,
                      class_weight=[1.0, 1.0, 1.0, 0.1]),
        loss_mask=dict(type="mmdet.CrossEntropyLoss", use_sigmoid=True, loss_weight=5.0),
        loss_dice=dict(type="mmdet.DiceLoss", use_sigmoid=True, activate=True, naive_dice=True, eps=1.0,
                       loss_weight=5.0),
        train_cfg=dict(num_points=256, oversample_ratio=3.0, importance_sample_ratio=0.75,
                       assigner=dict(type="mmdet.HungarianAssigner", match_costs=[
                           dict(type="mmdet.ClassificationCost", weight=2.0),
                           dict(type="mmdet.CrossEntropyLossCost", weight=5.0, use_sigmoid=True),
                           dict(type="mmdet.DiceCost", weight=5.0, pred_act=True, eps=1.0)]),
                       sampler=dict(type="mmdet.MaskPseudoSampler")))
    cfg.update(overrides)
    return cfg


def tiny_segmentor() -> torch.nn.Module:
    backbone = dict(type="ResNet", depth=18, stem_channels=8, base_channels=8)  # 8, 16, 32, 64 channels
    return MODELS.build(dict(type="EncoderDecoder", backbone=backbone, decode_head=tiny_head(),
                             data_preprocessor=dict(type="SegDataPreProcessor", mean=[0.0] * 3, std=[1.0] * 3)))


def make_samples(labels: torch.Tensor) -> list[SegDataSample]:
    samples = []
    for lab in labels:
        hw = tuple(lab.shape[-2:])
        sample = SegDataSample(metainfo=dict(img_shape=hw, pad_shape=hw, ori_shape=hw))
        sample.gt_sem_seg = lab
        samples.append(sample)
    return samples


def test_tensor_mode_needs_no_data_samples_and_predict_builds_the_semantic_map():
    torch.manual_seed(0)
    model = tiny_segmentor().eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        cls_list, mask_list = model(x, mode="tensor")
        results = model.predict(x)
    assert len(cls_list) == len(mask_list) == 4  # before the first decoder layer + 3 layers
    assert all(c.shape == (2, 4, 4) for c in cls_list) and all(m.shape == (2, 4, 16, 24) for m in mask_list)
    expected = torch.einsum("bqc,bqhw->bchw", cls_list[-1].softmax(-1)[..., :-1],
                            torch.nn.functional.interpolate(mask_list[-1], size=(64, 96), mode="bilinear").sigmoid())
    torch.testing.assert_close(torch.stack([r.seg_logits.data for r in results]), expected)
    assert results[0].pred_sem_seg.data.shape == (1, 64, 96)


def test_training_steps_lower_the_matched_loss():
    torch.manual_seed(0)
    head = MODELS.build(tiny_head()).train()
    gen = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, c, 64 // s, 64 // s, generator=gen) for c, s in zip((8, 16, 32, 64), (4, 8, 16, 32))]
    labels = torch.zeros(2, 1, 64, 64, dtype=torch.long)
    labels[0, :, :, 32:] = 1
    labels[1, :, 20:44, 20:44] = 2
    labels[1, :, :4] = 255  # ignored band
    samples = make_samples(labels)

    def total_loss() -> tuple[torch.Tensor, dict]:
        torch.manual_seed(1)  # the same random points each time
        losses = head.loss(feats, samples)
        return sum(losses.values()), losses

    with torch.no_grad():
        first = float(total_loss()[0])
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-2)
    for _ in range(10):
        loss, losses = total_loss()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert {"loss_cls", "loss_mask", "loss_dice", "d0.loss_cls", "d2.loss_dice"} <= set(losses)
    assert len(losses) == 12  # deep supervision: 4 predictions x 3 losses
    with torch.no_grad():
        final = float(total_loss()[0])
    assert final < 0.7 * first, (first, final)


def test_segmentor_loss_is_prefixed_and_reaches_the_backbone():
    torch.manual_seed(0)
    model = tiny_segmentor().train()
    samples = make_samples(torch.randint(0, 3, (2, 1, 64, 64)))
    losses = model(torch.randn(2, 3, 64, 64), samples, mode="loss")
    assert set(losses) == {f"decode.{p}loss_{k}" for p in ("", "d0.", "d1.", "d2.") for k in ("cls", "mask", "dice")}
    model.parse_losses(losses)[0].backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_images_without_labelled_pixels_give_zero_mask_losses():
    torch.manual_seed(0)
    head = MODELS.build(tiny_head())
    feats = [torch.randn(2, c, 64 // s, 64 // s) for c, s in zip((8, 16, 32, 64), (4, 8, 16, 32))]
    labels = torch.full((2, 1, 64, 64), 255, dtype=torch.long)
    with torch.no_grad():
        losses = head.loss(feats, make_samples(labels))
    assert float(losses["loss_mask"]) == 0.0 and float(losses["loss_dice"]) == 0.0
    assert torch.isfinite(losses["loss_cls"]) and losses["loss_cls"] > 0  # every query learns "no object"
    labels[1, :, :10] = 1
    with torch.no_grad():
        losses = head.loss(feats, make_samples(labels))
    assert losses["loss_mask"] > 0 and losses["loss_dice"] > 0


def test_argument_checks():
    with pytest.raises(ConfigError, match="num_levels"):
        MODELS.build(tiny_head(num_transformer_feat_level=2))
    with pytest.raises(ConfigError, match="class_weight"):
        MODELS.build(tiny_head(loss_cls=dict(type="mmdet.CrossEntropyLoss", class_weight=[1.0, 0.1])))
    with pytest.raises(ConfigError, match="train_cfg"):
        MODELS.build(tiny_head(train_cfg=None)).loss([torch.zeros(1, 8, 8, 8)] * 4, [])
    with pytest.raises(ConfigError, match="unexpected argument"):
        MODELS.build(tiny_head(num_querys=4))
    with pytest.warns(UserWarning, match="test_cfg"):
        MODELS.build(tiny_head(test_cfg=dict(max_per_image=10)))
    with pytest.raises(ConfigError, match="SinePositionalEncoding"):
        MODELS.build(tiny_head(positional_encoding=dict(type="LearnedPositionalEncoding", num_feats=8)))
    typed = MODELS.build(tiny_head(positional_encoding=dict(type="mmdet.SinePositionalEncoding", num_feats=8)))
    assert typed.decoder_positional_encoding.num_feats == 8
