"""SegTTAModel: identity TTA == predict; flip TTA on an equivariant model == predict; else manual average."""
import numpy as np
import pytest
import torch
from torch import nn

import seglab.models  # noqa: F401 - registration
from seglab.datasets import pseudo_collate
from seglab.datasets.transforms import Compose
from seglab.models.segmentors.seg_tta import _group_by_image
from seglab.registry import MODELS, ConfigError


class PointwiseBackbone(nn.Module):
    """1x1 conv: commutes with flips."""

    out_channels = [8]

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)

    def forward(self, x):
        return (torch.relu(self.conv(x)),)


class SkewBackbone(PointwiseBackbone):
    """A 3x3 conv with random weights: not flip-equivariant."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)


def make(backbone: type) -> nn.Module:
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type="EncoderDecoder", backbone=dict(type=backbone),
        decode_head=dict(type="FCNHead", in_channels=8, channels=8, num_convs=0, concat_input=False,
                         num_classes=4, align_corners=False),
        data_preprocessor=dict(type="SegDataPreProcessor", mean=[100.0] * 3, std=[50.0] * 3, bgr_to_rgb=True)))
    return model.eval()


def images(n: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size=(12, 20, 3), dtype=np.uint8) for _ in range(n)]


def batch(pipeline: list, imgs: list[np.ndarray]) -> dict:
    compose = Compose(pipeline)
    return pseudo_collate([compose(dict(img=img)) for img in imgs])


LOAD = dict(type="LoadImageFromNDArray")
FLIPS = [dict(type="RandomFlip", prob=0.0, direction="horizontal"), dict(type="RandomFlip", prob=1.0, direction="horizontal")]


def tta_batch(imgs, groups):
    return batch([LOAD, dict(type="TestTimeAug", transforms=groups + [[dict(type="PackSegInputs")]])], imgs)


def plain_predict(model, imgs):
    with torch.no_grad():
        return model.test_step(batch([LOAD, dict(type="PackSegInputs")], imgs))


def test_single_identity_view_equals_plain_predict():
    model = make(SkewBackbone)
    tta = MODELS.build(dict(type="SegTTAModel", module=model))
    imgs = images()
    with torch.no_grad():
        merged = tta.test_step(tta_batch(imgs, [[dict(type="RandomFlip", prob=0.0)]]))
    plain = plain_predict(model, imgs)
    assert len(merged) == 2
    for m, p in zip(merged, plain):
        torch.testing.assert_close(m.seg_logits.data, p.seg_logits.data.softmax(0))
        assert torch.equal(m.pred_sem_seg.data, p.pred_sem_seg.data)
        assert m.ori_shape == (12, 20) and "tta_view" not in m.metainfo


def test_flip_tta_on_equivariant_model_equals_plain_predict():
    model = make(PointwiseBackbone)
    tta = MODELS.build(dict(type="SegTTAModel", module=model))
    imgs = images()
    with torch.no_grad():
        merged = tta.test_step(tta_batch(imgs, [FLIPS]))
    for m, p in zip(merged, plain_predict(model, imgs)):
        torch.testing.assert_close(m.seg_logits.data, p.seg_logits.data.softmax(0))
        assert torch.equal(m.pred_sem_seg.data, p.pred_sem_seg.data)


def test_flip_and_scale_tta_is_the_average_of_the_views_mapped_back():
    model = make(SkewBackbone)
    tta = MODELS.build(dict(type="SegTTAModel", module=model))
    imgs = images()
    resizes = [dict(type="Resize", scale_factor=r, keep_ratio=True) for r in (1.0, 1.5)]
    with torch.no_grad():
        merged = tta.test_step(tta_batch(imgs, [resizes, FLIPS]))
        x = torch.stack([torch.from_numpy(i[..., ::-1].copy()).permute(2, 0, 1).float() for i in imgs])
        x = (x - 100) / 50
        expected = torch.zeros(2, 4, 12, 20)
        for scale in (1.0, 1.5):
            size = (int(12 * scale + 0.5), int(20 * scale + 0.5))
            xs = nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False) if scale != 1 else x
            for flip in (False, True):
                xi = xs.flip(-1) if flip else xs
                logits = model.encode_decode(xi, [dict(img_shape=size, pad_shape=size)] * 2)
                logits = logits.flip(-1) if flip else logits
                logits = nn.functional.interpolate(logits, size=(12, 20), mode="bilinear", align_corners=False)
                expected += logits.softmax(1) / 4
    for i, m in enumerate(merged):
        # cv2's bilinear resize of the image differs slightly from torch's, hence the tolerance.
        torch.testing.assert_close(m.seg_logits.data, expected[i], atol=2e-2, rtol=0)
        assert (m.pred_sem_seg.data[0] == expected[i].argmax(0)).float().mean() > 0.95
    # Exact check of the averaging: merge_preds over the per-view predictions by hand.
    views = [model.test_step(v) for v in _group_by_image(tta_batch(imgs, [resizes, FLIPS]))]
    manual = torch.stack([v[0].seg_logits.data.softmax(0) for v in views]).mean(0)
    torch.testing.assert_close(merged[0].seg_logits.data, manual)


def test_per_view_collate_layout_is_accepted():
    model = make(SkewBackbone)
    tta = MODELS.build(dict(type="SegTTAModel", module=model))
    imgs = images()
    data = tta_batch(imgs, [FLIPS])
    transposed = {k: [list(v) for v in zip(*data[k])] for k in data}  # MMEngine's layout: [view][image]
    with torch.no_grad():
        a, b = tta.test_step(data), tta.test_step(transposed)
    for x, y in zip(a, b):
        torch.testing.assert_close(x.seg_logits.data, y.seg_logits.data)


def test_needs_a_segmentor():
    with pytest.raises(ConfigError, match="test_step"):
        MODELS.build(dict(type="SegTTAModel", module=nn.Conv2d(1, 1, 1)))
