"""EncoderDecoder: parity with MMSeg (whole/slide/predict/loss), slide == whole, padding crop, steps."""
import importlib.util
from pathlib import Path

import _shared
import numpy as np
import pytest
import torch
from torch import nn

import seglab.models  # noqa: F401 - registration
from seglab.models.segmentors import CascadeEncoderDecoder, EncoderDecoder
from seglab.registry import MODELS, ConfigError
from seglab.structures import SegDataSample

REPO = Path(__file__).resolve().parents[3]
REF = np.load(REPO / "tests" / "data" / "segmentors" / "reference.npz")
FILL = _shared.FILL


class ToyBackbone(nn.Module):
    """conv(3->8, s2)-ReLU -> conv(8->16, s2)-ReLU; returns both maps (same as the reference script's)."""

    out_channels = [8, 16]

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 2, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 2, 1)

    def forward(self, x):
        a = torch.relu(self.conv1(x))
        return (a, torch.relu(self.conv2(a)))


def make_model(**test_cfg) -> EncoderDecoder:
    return MODELS.build(dict(
        type="EncoderDecoder",
        backbone=dict(type=ToyBackbone),
        decode_head=dict(type="FCNHead", in_channels=16, channels=8, num_convs=2, dilation=2, num_classes=5,
                         norm_cfg=dict(type="BN"), align_corners=False),
        auxiliary_head=dict(type="FCNHead", in_channels=[8, 16], in_index=[0, 1], input_transform="resize_concat",
                            channels=24, num_convs=0, concat_input=False, num_classes=5, align_corners=True),
        test_cfg=test_cfg or dict(mode="whole")))


def filled(model: nn.Module) -> nn.Module:
    _shared.require(FILL)
    spec = importlib.util.spec_from_file_location("parity_fill", FILL)
    fill = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fill)
    model.load_state_dict({k: torch.from_numpy(fill.fill(k, tuple(v.shape), v.is_floating_point()))
                           for k, v in model.state_dict().items()}, strict=True)
    return model


def close(a: torch.Tensor, b: np.ndarray) -> None:
    np.testing.assert_allclose(a.detach().numpy(), b, rtol=1e-4, atol=1e-5)


X = torch.from_numpy(REF["x"])
HW = tuple(X.shape[2:])
METAS = [dict(ori_shape=HW, img_shape=HW, pad_shape=HW) for _ in range(2)]


def test_whole_tensor_and_aux_match_mmseg():
    model = filled(make_model()).eval()
    with torch.no_grad():
        close(model(X, mode="tensor"), REF["tensor"])
        close(model.auxiliary_head(model.extract_feat(X)), REF["aux_tensor"])
        close(model.inference(X, METAS), REF["whole.inference"])


def test_slide_inference_matches_mmseg():
    model = filled(make_model(mode="slide", crop_size=(24, 32), stride=(16, 20))).eval()
    with torch.no_grad():
        close(model.inference(X, METAS), REF["slide.inference"])


def test_predict_crops_padding_unflips_and_resizes_like_mmseg():
    model = filled(make_model()).eval()
    samples = [SegDataSample(metainfo=dict(ori_shape=(50, 30), img_shape=HW, pad_shape=HW, padding_size=padding,
                                           flip=flip, flip_direction="horizontal"))
               for flip, padding in [(False, [0, 4, 0, 8]), (True, [0, 12, 0, 0])]]
    with torch.no_grad():
        res = model.predict(X, samples)
    close(torch.stack([r.seg_logits.data for r in res]), REF["predict.seg_logits"])
    assert torch.equal(torch.stack([r.pred_sem_seg.data for r in res]), torch.from_numpy(REF["predict.pred"]))


def test_loss_keys_and_values_match_mmseg():
    model = filled(make_model()).train()
    model.decode_head.dropout = model.auxiliary_head.dropout = None
    samples = [SegDataSample(metainfo=dict(img_shape=HW, pad_shape=HW), gt_sem_seg=torch.from_numpy(REF["gt"][i]))
               for i in range(2)]
    losses = model(X, samples, mode="loss")
    assert sorted(losses) == ["aux.acc_seg", "aux.loss_ce", "decode.acc_seg", "decode.loss_ce"]
    for key, value in losses.items():
        np.testing.assert_allclose(value.detach().numpy().reshape(-1), REF[f"loss.{key}"].reshape(-1), rtol=1e-4)


def test_aux_head_list_prefixes_and_parse_losses():
    model = EncoderDecoder(
        backbone=ToyBackbone(),
        decode_head=dict(type="FCNHead", in_channels=16, channels=8, num_classes=3),
        auxiliary_head=[dict(type="FCNHead", in_channels=8, in_index=0, channels=4, num_classes=3, num_convs=1),
                        dict(type="FCNHead", in_channels=16, channels=4, num_classes=3, num_convs=1,
                             loss_decode=[dict(type="CrossEntropyLoss", loss_weight=0.5),
                                          dict(type="DiceLoss", loss_weight=0.5)])])
    samples = [SegDataSample(gt_sem_seg=torch.randint(0, 3, (1, 16, 16))) for _ in range(2)]
    losses = model(torch.randn(2, 3, 16, 16), samples, mode="loss")
    assert sorted(losses) == ["aux_0.acc_seg", "aux_0.loss_ce", "aux_1.acc_seg", "aux_1.loss_ce", "aux_1.loss_dice",
                              "decode.acc_seg", "decode.loss_ce"]
    total, log_vars = model.parse_losses(losses)
    expected = sum(v for k, v in losses.items() if "loss" in k)
    assert torch.allclose(total, expected)
    assert list(log_vars)[0] == "loss" and log_vars["loss"] == pytest.approx(float(expected.detach()))
    assert all(isinstance(v, float) for v in log_vars.values())


def test_slide_with_crop_covering_image_equals_whole():
    torch.manual_seed(0)
    whole = make_model().eval()
    slide = make_model(mode="slide", crop_size=(64, 64), stride=(32, 32)).eval()
    slide.load_state_dict(whole.state_dict())
    x = torch.randn(1, 3, 40, 52)
    metas = [dict(ori_shape=(40, 52), img_shape=(40, 52), pad_shape=(40, 52))]
    with torch.no_grad():
        assert torch.allclose(whole.inference(x, metas), slide.inference(x, metas), atol=1e-6)


def test_slide_with_overlap_averages_windows():
    # A 1x1-conv model is translation invariant, so any window layout gives the whole-image logits.
    class Pointwise(nn.Module):
        out_channels = [6]

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 1)

        def forward(self, x):
            return (self.conv(x),)

    def build(**test_cfg):
        torch.manual_seed(0)
        return EncoderDecoder(backbone=Pointwise(), test_cfg=test_cfg, decode_head=dict(
            type="FCNHead", in_channels=6, channels=6, num_convs=0, concat_input=False, num_classes=4)).eval()

    x = torch.randn(1, 3, 23, 37)
    metas = [dict(ori_shape=(23, 37), img_shape=(23, 37), pad_shape=(23, 37))]
    with torch.no_grad():
        ref = build(mode="whole").inference(x, metas)
        out = build(mode="slide", crop_size=(10, 16), stride=(7, 9)).inference(x, metas)
    assert torch.allclose(ref, out, atol=1e-5)


def test_predict_after_test_time_padding_returns_original_size():
    model = EncoderDecoder(backbone=ToyBackbone(), decode_head=dict(type="FCNHead", in_channels=16, channels=8,
                                                                     num_classes=3),
                           data_preprocessor=dict(test_cfg=dict(size_divisor=16))).eval()
    img = torch.randint(0, 255, (3, 21, 35), dtype=torch.uint8)
    data = dict(inputs=[img], data_samples=[SegDataSample(metainfo=dict(ori_shape=(21, 35), img_shape=(21, 35)))])
    pre = model.data_preprocessor(data, False)
    assert tuple(pre["inputs"].shape[-2:]) == (32, 48)
    with torch.no_grad():
        out = model.test_step(data)[0]
        padded_logits = model.inference(pre["inputs"], [s.metainfo for s in pre["data_samples"]])
    assert out.seg_logits.data.shape == (3, 21, 35) and out.pred_sem_seg.data.shape == (1, 21, 35)
    # Cropping exactly (no resize since ori_shape equals the unpadded size).
    assert torch.allclose(out.seg_logits.data, padded_logits[0, :, :21, :35])


def test_binary_head_thresholds_sigmoid():
    model = EncoderDecoder(backbone=ToyBackbone(), decode_head=dict(
        type="FCNHead", in_channels=16, channels=8, num_classes=2, out_channels=1, threshold=0.4,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=True))).eval()
    with torch.no_grad():
        res = model.predict(torch.randn(1, 3, 16, 16))[0]
    assert res.seg_logits.data.shape == (1, 16, 16)
    assert res.pred_sem_seg.data.dtype == torch.int64  # class indices, as for softmax heads
    assert torch.equal(res.pred_sem_seg.data, (res.seg_logits.data > 0.4).long())


def test_head_channel_mismatch_fails_at_build_time_with_both_numbers():
    with pytest.raises(ConfigError, match=r"in_channels=32.*16"):
        EncoderDecoder(backbone=ToyBackbone(), decode_head=dict(type="FCNHead", in_channels=32, channels=8,
                                                                 num_classes=3))
    with pytest.raises(ConfigError, match=r"auxiliary_head.*in_channels=16 .* 24 channels"):
        EncoderDecoder(backbone=ToyBackbone(), decode_head=dict(type="FCNHead", in_channels=16, channels=8,
                                                                 num_classes=3),
                       auxiliary_head=dict(type="FCNHead", in_channels=[8, 8], in_index=[0, 1], channels=8,
                                           input_transform="resize_concat", num_classes=3))


def test_bad_test_mode_is_a_config_error():
    model = make_model(mode="tiles").eval()
    with pytest.raises(ConfigError, match="whole.*slide"):
        model.inference(X, METAS)


class _OptimWrapper:
    def __init__(self, params):
        self.optimizer = torch.optim.SGD(params, lr=0.05, momentum=0.9)

    def update_params(self, loss):
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()


def test_train_step_reduces_loss_on_a_toy_batch():
    torch.manual_seed(0)
    model = EncoderDecoder(
        backbone=ToyBackbone(),
        decode_head=dict(type="FCNHead", in_channels=16, channels=8, num_classes=2, dropout_ratio=0.0,
                         norm_cfg=dict(type="BN")),
        data_preprocessor=dict(mean=[127.5] * 3, std=[64.0] * 3, size_divisor=8))
    # Left half dark = class 0, right half bright = class 1; sizes differ, so padding is exercised.
    inputs, samples = [], []
    for w in (24, 30):
        img = torch.zeros(3, 20, w, dtype=torch.uint8)
        img[:, :, w // 2:] = 200
        gt = torch.zeros(1, 20, w, dtype=torch.long)
        gt[:, :, w // 2:] = 1
        inputs.append(img)
        samples.append(SegDataSample(metainfo=dict(ori_shape=(20, w), img_shape=(20, w)), gt_sem_seg=gt))
    wrapper = _OptimWrapper(model.parameters())
    log = [model.train_step(dict(inputs=inputs, data_samples=samples), wrapper) for _ in range(30)]
    assert log[-1]["decode.loss_ce"] < 0.5 * log[0]["decode.loss_ce"]
    assert set(log[0]) == {"loss", "decode.loss_ce", "decode.acc_seg"}
    # The caller's samples are not modified by padding.
    assert samples[0].gt_sem_seg.data.shape == (1, 20, 24)
    model.eval()
    preds = model.val_step(dict(inputs=inputs[:1], data_samples=samples[:1]))
    assert (preds[0].pred_sem_seg.data == samples[0].gt_sem_seg.data).float().mean() > 0.9


def test_cascade_encoder_decoder_chains_heads():
    class Refine(nn.Module):
        """A cascade stage: adds a learned bias to the previous logits."""

        def __init__(self):
            super().__init__()
            self.bias = nn.Parameter(torch.ones(1, 3, 1, 1))
            self.align_corners, self.num_classes, self.out_channels, self.threshold = False, 3, 3, None

        def forward(self, x, prev):
            return prev + self.bias

        def predict(self, x, prev, metas, test_cfg):
            return nn.functional.interpolate(self.forward(x, prev), size=metas[0]["pad_shape"], mode="bilinear")

        def loss(self, x, prev, samples, train_cfg):
            return {"loss_refine": self.forward(x, prev).mean()}

    model = CascadeEncoderDecoder(num_stages=2, backbone=ToyBackbone(), decode_head=[
        dict(type="FCNHead", in_channels=16, channels=8, num_classes=3), Refine()]).eval()
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        first = model.decode_head[0](model.extract_feat(x))
        assert torch.allclose(model(x, mode="tensor"), first + 1)
    losses = model(x, [SegDataSample(gt_sem_seg=torch.zeros(1, 16, 16, dtype=torch.long))], mode="loss")
    assert {"decode_0.loss_ce", "decode_1.loss_refine"} <= set(losses)
    with pytest.raises(ConfigError, match="num_stages=3"):
        CascadeEncoderDecoder(num_stages=3, backbone=ToyBackbone(),
                              decode_head=[dict(type="FCNHead", in_channels=16, channels=8, num_classes=3)])


@pytest.mark.parametrize("window_batch", [2, 3, 100])
def test_slide_batched_windows_equal_one_by_one(window_batch):
    # 2 images, 3x3 windows: chunks of 2 and 3 split the grid unevenly, 100 takes all windows at once.
    torch.manual_seed(0)
    one = make_model(mode="slide", crop_size=(24, 32), stride=(16, 20)).eval()
    batched = make_model(mode="slide", crop_size=(24, 32), stride=(16, 20), batch_size=window_batch).eval()
    batched.load_state_dict(one.state_dict())
    x = torch.randn(2, 3, 50, 70)
    metas = [dict(ori_shape=(50, 70), img_shape=(50, 70), pad_shape=(50, 70)) for _ in range(2)]
    with torch.no_grad():
        expected, got = one.inference(x, metas), batched.inference(x, metas)
    assert got.shape == (2, 5, 50, 70)
    assert torch.allclose(expected, got, atol=1e-5)
    assert not torch.allclose(got[0], got[1])  # the images' windows did not get mixed up


def test_slide_window_batch_size_is_checked():
    model = make_model(mode="slide", crop_size=(24, 32), stride=(16, 20), batch_size=0).eval()
    with pytest.raises(ConfigError, match="test_cfg.batch_size"):
        model.inference(torch.zeros(1, 3, 30, 40), [dict(ori_shape=(30, 40))])


@pytest.mark.parametrize("mode", ["whole", "slide"])
def test_cpu_predict_logits_are_channels_last_with_the_nchw_values(mode):
    """On the CPU predict resizes and averages the logits channels-last (faster resize and argmax): the same
    values and predictions as the NCHW computation, only the strides differ."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    test_cfg = dict(mode="whole") if mode == "whole" else dict(mode="slide", crop_size=(24, 32), stride=(16, 20))
    model = make_model(**test_cfg).eval()
    x = torch.randn(2, 3, 40, 52)
    metas = [dict(ori_shape=(40, 52), img_shape=(40, 52), pad_shape=(40, 52)) for _ in range(2)]
    with torch.no_grad():
        logits = model.inference(x, metas)
        assert logits.is_contiguous(memory_format=torch.channels_last) and not logits.is_contiguous()
        if mode == "whole":
            ref = F.interpolate(model.decode_head(model.extract_feat(x)), size=(40, 52), mode="bilinear")
        else:  # every window through the NCHW path, summed and divided in NCHW
            ref, count = torch.zeros(2, 5, 40, 52), torch.zeros(2, 1, 40, 52)
            for y1, x1 in [(0, 0), (0, 20), (16, 0), (16, 20)]:
                crop = x[:, :, y1:y1 + 24, x1:x1 + 32]
                ref[:, :, y1:y1 + 24, x1:x1 + 32] += F.interpolate(model.decode_head(model.extract_feat(crop)),
                                                                   size=(24, 32), mode="bilinear")
                count[:, :, y1:y1 + 24, x1:x1 + 32] += 1
            ref = ref / count
        torch.testing.assert_close(logits, ref, rtol=1e-5, atol=1e-6)
        samples = model.predict(x, [SegDataSample(metainfo=m) for m in metas])
    for s, r in zip(samples, ref):
        assert torch.equal(s.pred_sem_seg.data, r.argmax(0, keepdim=True))
