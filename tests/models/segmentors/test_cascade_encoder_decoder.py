"""CascadeEncoderDecoder with real OCR stages: MMSeg's loss names and weights, stage chaining, inference."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import seglab.models  # noqa: F401 - registration
from seglab.registry import MODELS, ConfigError
from seglab.structures import SegDataSample

BN = dict(type="BN")
# Dilated (output stride 8, as MMSeg's ocrnet_r50-d8): stages 3 and 4 have the same size, so the OCR stage on
# stage 4 can use the FCN stage's logits from stage 3. Channels 8, 16, 32, 64.
R18 = dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=8, norm_cfg=BN, strides=(1, 2, 1, 1),
           dilations=(1, 1, 2, 4), contract_dilation=True)
FCN = dict(type="FCNHead", in_channels=32, in_index=2, channels=8, num_convs=1, concat_input=False, num_classes=4,
           norm_cfg=BN, dropout_ratio=0.0, loss_decode=dict(type="CrossEntropyLoss", loss_weight=0.4))
OCR = dict(type="OCRHead", in_channels=64, in_index=3, channels=8, ocr_channels=4, num_classes=4, norm_cfg=BN,
           dropout_ratio=0.0)
AUX = dict(type="FCNHead", in_channels=16, in_index=1, channels=8, num_convs=1, concat_input=False, num_classes=4,
           norm_cfg=BN)


def build(num_stages: int = 2, **kwargs) -> torch.nn.Module:
    heads = [FCN, OCR] + [dict(OCR, ocr_channels=6)] * (num_stages - 2)
    torch.manual_seed(0)
    return MODELS.build(dict(type="CascadeEncoderDecoder", num_stages=num_stages, backbone=R18, decode_head=heads,
                             **kwargs))


def samples(n: int, h: int, w: int) -> list[SegDataSample]:
    gen = torch.Generator().manual_seed(1)
    out = []
    for _ in range(n):
        label = torch.randint(0, 4, (1, h, w), generator=gen)
        label[:, :3] = 255
        out.append(SegDataSample(gt_sem_seg=label, metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                                                 pad_shape=(h, w))))
    return out


def test_loss_names_weights_and_gradients_follow_mmseg():
    model = build(auxiliary_head=AUX).train()
    x = torch.randn(2, 3, 32, 40, generator=torch.Generator().manual_seed(0))
    data = samples(2, 32, 40)
    losses = model(x, data, mode="loss")
    assert sorted(losses) == sorted(f"{p}.{k}" for p in ("decode_0", "decode_1", "aux") for k in ("loss_ce", "acc_seg"))
    # decode_0 is the FCN stage's cross-entropy (mean over all pixels, ignored ones count 0) times 0.4.
    logits = F.interpolate(model.decode_head[0](model.extract_feat(x)), size=(32, 40), mode="bilinear",
                           align_corners=False)
    labels = torch.cat([s.gt_sem_seg.data for s in data])
    expected = 0.4 * F.cross_entropy(logits, labels, ignore_index=255, reduction="none").sum() / labels.numel()
    torch.testing.assert_close(losses["decode_0.loss_ce"], expected, rtol=1e-5, atol=1e-6)
    total = sum(v for k, v in losses.items() if "loss" in k)
    total.backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"parameters the cascade losses do not reach: {no_grad}"


def test_three_stages_chain_each_head_on_the_previous_logits():
    model = build(num_stages=3).eval()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        feats = model.extract_feat(x)
        stage0 = model.decode_head[0](feats)
        stage1 = model.decode_head[1](feats, stage0)
        stage2 = model.decode_head[2](feats, stage1)
        torch.testing.assert_close(model(x, mode="tensor"), stage2, rtol=0, atol=0)
        full = model.encode_decode(x, [dict(img_shape=(32, 32), ori_shape=(32, 32), pad_shape=(32, 32))])
    torch.testing.assert_close(full, F.interpolate(stage2, size=(32, 32), mode="bilinear", align_corners=False))
    assert not torch.allclose(stage1, stage2)  # the third stage really ran
    losses = build(num_stages=3).train()(x, samples(1, 32, 32), mode="loss")
    assert {"decode_0.loss_ce", "decode_1.loss_ce", "decode_2.loss_ce"} <= set(losses)


def test_predict_at_ori_shape_and_slide_equals_whole_with_one_window():
    model = build(test_cfg=dict(mode="whole")).eval()
    x = torch.randn(1, 3, 33, 47, generator=torch.Generator().manual_seed(3))
    metas = [dict(ori_shape=(33, 47), img_shape=(33, 47), pad_shape=(33, 47))]
    with torch.no_grad():
        whole = model.inference(x, metas)
        model.test_cfg = dict(mode="slide", crop_size=(40, 48), stride=(16, 16))
        slide = model.inference(x, metas)
        result = model.predict(x)[0]
    assert tuple(whole.shape) == (1, 4, 33, 47)
    torch.testing.assert_close(slide, whole, rtol=0, atol=0)
    assert tuple(result.pred_sem_seg.data.shape) == (1, 33, 47)


def test_build_time_errors_name_the_stage_and_the_fix():
    with pytest.raises(ConfigError, match=r"decode_head\[1\] is a FCNHead.*cascade head"):
        MODELS.build(dict(type="CascadeEncoderDecoder", num_stages=2, backbone=R18, decode_head=[FCN, FCN]))
    with pytest.raises(ConfigError, match=r"decode_head\[1\].in_channels=32 but the backbone gives 64"):
        MODELS.build(dict(type="CascadeEncoderDecoder", num_stages=2, backbone=R18,
                          decode_head=[FCN, dict(OCR, in_channels=32)]))
    with pytest.raises(ConfigError, match="num_stages=3"):
        MODELS.build(dict(type="CascadeEncoderDecoder", num_stages=3, backbone=R18, decode_head=[FCN, OCR]))
