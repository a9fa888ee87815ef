"""Sigmoid (out_channels=1) heads: integer predictions in every path; binary settings checked at build time."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import seglab.models  # noqa: F401 - registration
from seglab.datasets import pseudo_collate
from seglab.datasets.transforms import Compose
from seglab.registry import MODELS, ConfigError


class Backbone(nn.Module):
    """conv(3->8, s2)-ReLU: one stride-2 map."""

    out_channels = [8]

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (torch.relu(self.conv(x)),)


def head(out_channels: int | None = 1, sigmoid: bool = True, **kw) -> dict:
    cfg = dict(type="FCNHead", in_channels=8, channels=8, num_convs=0, concat_input=False, num_classes=2,
               loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=sigmoid), **kw)
    if out_channels is not None:
        cfg.update(out_channels=out_channels, threshold=0.5)
    return cfg


def binary_model(**test_cfg) -> nn.Module:
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type="EncoderDecoder", backbone=dict(type=Backbone), decode_head=head(),
        auxiliary_head=head(), test_cfg=test_cfg or dict(mode="whole"),
        data_preprocessor=dict(type="SegDataPreProcessor", mean=[100.0] * 3, std=[50.0] * 3)))
    with torch.no_grad():  # zero-mean weights put the 0.5 threshold inside the probability range
        model.backbone.conv.weight.normal_(0, 0.5)
        model.decode_head.conv_seg.weight.normal_(0, 1.0)
    return model.eval()


def packed(imgs: list[np.ndarray], pipeline: list) -> dict:
    compose = Compose([dict(type="LoadImageFromNDArray"), *pipeline])
    return pseudo_collate([compose(dict(img=img)) for img in imgs])


IMGS = [np.random.default_rng(i).integers(0, 256, (14, 18, 3), dtype=np.uint8) for i in range(2)]


@pytest.mark.parametrize("mode", ["whole", "slide"])
def test_sigmoid_prediction_is_int64_threshold_of_the_probability(mode: str) -> None:
    cfg = dict(mode="slide", crop_size=(8, 8), stride=(6, 6)) if mode == "slide" else {}
    model = binary_model(**cfg)
    with torch.no_grad():
        outs = model.test_step(packed(IMGS, [dict(type="PackSegInputs")]))
    for out in outs:
        pred, prob = out.pred_sem_seg.data, out.seg_logits.data
        assert pred.dtype == torch.int64 and pred.shape == (1, 14, 18)
        assert torch.equal(pred, (prob > 0.5).long())
        assert set(pred.unique().tolist()) == {0, 1}  # both sides of the threshold occur


def test_tta_of_a_sigmoid_head_is_int64() -> None:
    model = binary_model()
    tta = MODELS.build(dict(type="SegTTAModel", module=model))
    flips = [dict(type="RandomFlip", prob=0.0), dict(type="RandomFlip", prob=1.0, direction="horizontal")]
    with torch.no_grad():
        tta_pipeline = [dict(type="TestTimeAug", transforms=[flips, [dict(type="PackSegInputs")]])]
        merged = tta.test_step(packed(IMGS, tta_pipeline))
    for m in merged:
        assert m.pred_sem_seg.data.dtype == torch.int64
        assert torch.equal(m.pred_sem_seg.data, (m.seg_logits.data > 0.5).long())


@pytest.mark.parametrize("aux", [dict(out_channels=None, sigmoid=False), dict(out_channels=1, sigmoid=True)],
                         ids=["softmax-aux-on-sigmoid", "sigmoid-aux-on-softmax"])
def test_auxiliary_head_must_share_the_binary_setting(aux: dict) -> None:
    decode = head() if aux["out_channels"] is None else head(out_channels=None, sigmoid=False)
    with pytest.raises(ConfigError) as info:
        MODELS.build(dict(type="EncoderDecoder", backbone=dict(type=Backbone), decode_head=decode,
                          auxiliary_head=[decode, head(**aux)]))
    message = str(info.value)
    assert "auxiliary_head[1]" in message
    assert "out_channels=1, use_sigmoid=True" in message and "out_channels=2, use_sigmoid=False" in message
    assert "out_channels=1" in message.split(":")[-1]  # the fix names the sigmoid setting


def test_one_channel_head_with_a_softmax_loss_fails_at_build_time() -> None:
    with pytest.raises(ConfigError, match=r"out_channels=1.*use_sigmoid=False.*set use_sigmoid=True"):
        MODELS.build(head(out_channels=1, sigmoid=False))
