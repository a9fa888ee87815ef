"""DepthEstimator + VPDDepthHead: losses, pred_depth_map at ori_shape, slide / slide_flip inference, build checks."""

from __future__ import annotations

import pytest
import torch

from seglab.registry import MODELS, ConfigError
from seglab.structures import SegDataSample

pytestmark = pytest.mark.usefixtures("single_thread")

_R18 = dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=16)  # out_channels 16, 32, 64, 128
_HEAD = dict(type="VPDDepthHead", in_channels=[16, 32, 64, 128], embed_dim=2, feature_dim=16,
             num_deconv_filters=(4, 4, 4), max_depth=10.0)


def build(**kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = dict(type="DepthEstimator", backbone=_R18, decode_head=_HEAD,
               data_preprocessor=dict(type="SegDataPreProcessor", mean=[127.5] * 3, std=[127.5] * 3, seg_pad_val=0,
                                      size_divisor=32, test_cfg=dict(size_divisor=32)))
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    # MMSeg's init (std 0.001 decoder) predicts a near-constant depth; unit-variance weights make flips and
    # windows give different values.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape) / p[0].numel() ** 0.5)
    return model


def sample(h: int, w: int, ori: tuple[int, int] | None = None, depth: bool = True, **meta) -> SegDataSample:
    s = SegDataSample(metainfo=dict(ori_shape=ori or (h, w), img_shape=(h, w), **meta))
    if depth:
        s.gt_depth_map = torch.rand(1, h, w, generator=torch.Generator().manual_seed(h * w)) * 9 + 0.5
    return s


def test_loss_is_silog_and_reaches_every_parameter():
    model = build().train()
    data = model.data_preprocessor(dict(inputs=[torch.randint(0, 256, (3, 40, 56), dtype=torch.uint8)] * 2,
                                        data_samples=[sample(40, 56), sample(40, 56)]), True)
    losses = model(**data, mode="loss")
    assert list(losses) == ["decode.loss_silog"] and torch.isfinite(losses["decode.loss_silog"])
    losses["decode.loss_silog"].backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad


def test_predict_sets_pred_depth_map_at_ori_shape_and_undoes_padding_and_flip():
    model = build().eval()
    img = torch.randint(0, 256, (3, 40, 56), dtype=torch.uint8)
    with torch.no_grad():
        plain = model.val_step(dict(inputs=[img], data_samples=[sample(40, 56, depth=False)]))[0]
        resized = model.val_step(dict(inputs=[img], data_samples=[sample(40, 56, ori=(20, 28), depth=False)]))[0]
        flipped = model.val_step(dict(inputs=[img.flip(-1)], data_samples=[
            sample(40, 56, depth=False, flip=True, flip_direction="horizontal")]))[0]
    depth = plain.pred_depth_map.data
    assert depth.shape == (1, 40, 56) and resized.pred_depth_map.data.shape == (1, 20, 28)
    assert plain.get("pred_sem_seg") is None
    assert 0 < depth.min() and depth.max() < 10 and depth.std() > 0
    # The input was padded to 64x64 (size_divisor=32); the flipped image's prediction is flipped back.
    assert plain.img_padding_size == [0, 8, 0, 24]
    meta = [dict(pad_shape=(64, 64), ori_shape=(40, 56))]
    with torch.no_grad():
        padded = model.data_preprocessor(dict(inputs=[img]), False)["inputs"]
        torch.testing.assert_close(depth, model.inference(padded, meta)[0, :, :40, :56])
        padded = model.data_preprocessor(dict(inputs=[img.flip(-1)]), False)["inputs"]
        torch.testing.assert_close(flipped.pred_depth_map.data, model.inference(padded, meta)[0, :, :40, :56].flip(-1))


def test_slide_with_one_covering_window_equals_whole_and_slide_flip_averages_the_flip():
    whole = build(test_cfg=dict(mode="whole")).eval()
    x = torch.randn(1, 3, 64, 64)
    metas = [dict(ori_shape=(64, 64), img_shape=(64, 64), pad_shape=(64, 64))]
    with torch.no_grad():
        expected = whole.inference(x, metas)
        slide = build(test_cfg=dict(mode="slide", crop_size=(64, 64), stride=(32, 32))).eval()
        torch.testing.assert_close(slide.inference(x, metas), expected)
        flip = build(test_cfg=dict(mode="slide_flip", crop_size=(64, 64), stride=(32, 32))).eval()
        mirrored = whole.inference(x.flip(-1), metas).flip(-1)
        torch.testing.assert_close(flip.inference(x, metas), (expected + mirrored) / 2)
        assert not torch.allclose(expected, mirrored)
        # Two overlapping windows: each column is the mean of the windows that cover it.
        two = build(test_cfg=dict(mode="slide", crop_size=(64, 64), stride=(32, 32))).eval()
        wide = torch.randn(1, 3, 64, 96)
        wide_metas = [dict(ori_shape=(64, 96), img_shape=(64, 96), pad_shape=(64, 96))]
        out = two.inference(wide, wide_metas)
        left = whole.inference(wide[..., :64], metas)
        right = whole.inference(wide[..., 32:], metas)
        torch.testing.assert_close(out[..., :32], left[..., :32])
        torch.testing.assert_close(out[..., 32:64], (left[..., 32:] + right[..., :32]) / 2)
        torch.testing.assert_close(out[..., 64:], right[..., 32:])


def test_fmap_border_crops_the_aggregated_map():
    head = MODELS.build(dict(_HEAD, fmap_border=(1, 0))).eval()
    maps = [torch.randn(1, c, 64 // s, 64 // s) for c, s in zip([16, 32, 64, 128], (4, 8, 16, 32))]
    with torch.no_grad():
        assert head(maps).shape == (1, 1, 96, 128)  # aggregated 4x4 -> 3x4, then x32


def test_class_embed_select_backbone_receives_category_ids():
    seen = {}

    class Conditioned(torch.nn.Module):
        class_embed_select = True
        out_channels = [16, 32, 64, 128]

        def forward(self, x):  # noqa: ANN001, ANN202
            img, ids = x
            seen["ids"] = ids.tolist()
            return [torch.zeros(img.shape[0], c, 64 // s, 64 // s) for c, s in zip(self.out_channels, (4, 8, 16, 32))]

    model = build(backbone=Conditioned()).eval()
    model.predict(torch.zeros(2, 3, 64, 64), [sample(64, 64, depth=False, category_id=i) for i in (3, 7)])
    assert seen["ids"] == [3, 7]


@pytest.mark.parametrize("head, match", [
    (dict(_HEAD, feature_dim=24), "feature_dim"),
    (dict(_HEAD, in_channels=[16, 32, 64]), "4 feature maps"),
    (dict(_HEAD, in_channels=[8, 32, 64, 128]), "multiple of 16"),
    (dict(_HEAD, in_channels=[16, 32, 64, 64]), "in_channels"),  # disagrees with the backbone
])
def test_bad_head_configs_fail_at_build_time(head, match):
    with pytest.raises(ConfigError, match=match):
        build(decode_head=head)


def test_unknown_test_mode_and_the_vpd_backbone_fail_with_the_reason():
    with pytest.raises(ConfigError, match="slide_flip"):
        build(test_cfg=dict(mode="flip"))
    with pytest.raises(ConfigError, match="Stable Diffusion"):
        build(backbone=dict(type="VPD", diffusion_cfg={}))


def test_training_without_depth_maps_names_the_missing_transform():
    model = build().train()
    data = model.data_preprocessor(dict(inputs=[torch.zeros(3, 64, 64, dtype=torch.uint8)] * 2,
                                        data_samples=[sample(64, 64), sample(64, 64, depth=False)]), True)
    with pytest.raises(ValueError, match="LoadDepthAnnotation"):
        model(**data, mode="loss")
