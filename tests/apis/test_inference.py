"""init_model / inference_model / show_result_pyplot / SegInferencer on a tiny model and MMSeg-format checkpoints."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from seglab.apis import SegInferencer, inference_model, init_model, show_result_pyplot
from seglab.registry import MODELS
from seglab.visualization import overlay

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


@MODELS.register_module(force=True)
class TinyApiBackbone(nn.Module):
    """Two stride-2 conv-bn-relu layers: (N, 3, H, W) -> ((N, 8, H/4, W/4),)."""

    def __init__(self, in_channels: int = 3, channels: int = 8) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, 2, 1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 2, 1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.layers(x),)


CONFIG = f"""
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean={MEAN}, std={STD}, bgr_to_rgb=True),
    backbone=dict(type='TinyApiBackbone', channels=8),
    decode_head=dict(type='FCNHead', in_channels=8, channels=8, num_convs=1, concat_input=False,
                     num_classes=3, norm_cfg=dict(type='BN'), align_corners=False),
    test_cfg=dict(mode='whole'))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
"""
CLASSES = ("road", "car", "sky")
PALETTE = [[128, 64, 128], [0, 0, 142], [70, 130, 180]]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A config file, random weights with non-trivial BN statistics, and two odd-sized images."""
    root = tmp_path_factory.mktemp("apis")
    cfg_path = root / "tiny_fcn.py"
    cfg_path.write_text(CONFIG)
    torch.manual_seed(0)
    model = init_model(str(cfg_path))
    state = {}
    for k, v in model.state_dict().items():
        v = v.clone()
        if v.is_floating_point():
            v = torch.rand_like(v) + 0.5 if k.endswith("running_var") else torch.randn_like(v) * 0.5
        state[k] = v
    rng = np.random.default_rng(0)
    images = []
    for i, (h, w) in enumerate([(37, 45), (29, 33)]):
        path = root / f"img_{i}.png"
        cv2.imwrite(str(path), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        images.append(path)
    return root, cfg_path, state, images


def direct_argmax(model: nn.Module, path) -> torch.Tensor:
    """Normalise the RGB image by hand and argmax the model's logits: (H, W)."""
    rgb = cv2.imread(str(path))[..., ::-1].astype(np.float32)
    x = (torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None] - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[
        :, None, None
    ]
    shape = tuple(x.shape[2:])
    with torch.no_grad():
        logits = model.encode_decode(x, [dict(ori_shape=shape, img_shape=shape, pad_shape=shape)])
    return logits[0].argmax(0)


def test_mmseg_0x_checkpoint_predicts_like_direct_forward(setup):
    root, cfg_path, state, images = setup
    ckpt = root / "mmseg0x.pth"
    torch.save(dict(meta=dict(CLASSES=CLASSES, PALETTE=PALETTE), state_dict=state), ckpt)
    model = init_model(str(cfg_path), str(ckpt))
    assert not model.training
    assert model.dataset_meta == dict(classes=list(CLASSES), palette=PALETTE)
    assert model.cfg.filename == str(cfg_path)
    for k, v in state.items():
        assert torch.equal(model.state_dict()[k], v), k

    result = inference_model(model, str(images[0]))  # the config's LoadAnnotations step is dropped
    assert result.pred_sem_seg.data.shape == (1, 37, 45)
    assert result.seg_logits.data.shape == (3, 37, 45)
    expected = direct_argmax(model, images[0])
    assert len(expected.unique()) > 1  # a non-trivial prediction
    assert torch.equal(result.pred_sem_seg.data[0], expected)

    batch = inference_model(model, [str(p) for p in images])
    from_arrays = inference_model(model, [cv2.imread(str(p)) for p in images])
    for p, a, path in zip(batch, from_arrays, images):
        assert torch.equal(p.pred_sem_seg.data[0], direct_argmax(model, path))
        assert torch.equal(a.pred_sem_seg.data, p.pred_sem_seg.data)


def test_mmseg_1x_dataset_meta(setup, recwarn):
    root, cfg_path, state, _ = setup
    ckpt = root / "mmseg1x.pth"
    meta = dict(dataset_meta=dict(classes=CLASSES, palette=PALETTE), mmseg_version="1.2.2", iter=80000)
    torch.save(dict(meta=meta, state_dict={f"module.{k}": v for k, v in state.items()}), ckpt)
    model = init_model(str(cfg_path), str(ckpt))
    assert model.dataset_meta == dict(classes=list(CLASSES), palette=PALETTE)
    assert not [w for w in recwarn if "class" in str(w.message)]


def test_missing_classes_warns_and_uses_generic_names(setup):
    root, cfg_path, state, _ = setup
    ckpt = root / "bare.pth"
    torch.save(state, ckpt)  # a bare state dict, no meta at all
    with pytest.warns(UserWarning, match="no class names"):
        model = init_model(str(cfg_path), str(ckpt))
    assert model.dataset_meta["classes"] == ["class_0", "class_1", "class_2"]
    assert len(model.dataset_meta["palette"]) == 3


def test_cfg_options_override(setup):
    _, cfg_path, _, _ = setup
    model = init_model(str(cfg_path), cfg_options={"model.decode_head.channels": 4})
    assert model.decode_head.channels == 4 and model.cfg.model.decode_head.channels == 4


def test_show_result_writes_overlay(setup):
    root, cfg_path, state, images = setup
    ckpt = root / "show.pth"
    torch.save(dict(meta=dict(CLASSES=CLASSES, PALETTE=PALETTE), state_dict=state), ckpt)
    model = init_model(str(cfg_path), str(ckpt))
    result = inference_model(model, str(images[0]))
    out_file = root / "shown.png"
    drawn = show_result_pyplot(model, str(images[0]), result, opacity=0.5, withLabels=False, out_file=str(out_file))
    rgb = cv2.imread(str(images[0]))[..., ::-1]
    expected = overlay(rgb, result.pred_sem_seg.data, PALETTE, 0.5)
    np.testing.assert_array_equal(drawn, expected)
    np.testing.assert_array_equal(cv2.imread(str(out_file))[..., ::-1], expected)


def test_inferencer_folder_and_out_dir(setup, tmp_path):
    root, cfg_path, state, images = setup
    ckpt = root / "inf.pth"
    torch.save(dict(meta=dict(CLASSES=CLASSES, PALETTE=PALETTE), state_dict=state), ckpt)
    inferencer = SegInferencer(str(cfg_path), str(ckpt))
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in images:
        (folder / p.name).write_bytes(p.read_bytes())
    out = inferencer(str(folder), out_dir=str(tmp_path / "out"))
    assert len(out["predictions"]) == 2
    for p, pred in zip(images, out["predictions"]):
        np.testing.assert_array_equal(pred, direct_argmax(inferencer.model, p).numpy())
        written = cv2.imread(str(tmp_path / "out" / "pred" / p.name), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(written, pred)
        assert (tmp_path / "out" / "vis" / p.name).is_file()
    single = inferencer(cv2.imread(str(images[1])), return_datasample=True)
    assert torch.equal(single["predictions"].pred_sem_seg.data[0], direct_argmax(inferencer.model, images[1]))


def test_amp_switch_is_a_bool_and_survives_tta(setup):
    from seglab.apis import enable_tta
    from seglab.registry import ConfigError

    _, cfg_path, _, images = setup
    with pytest.raises(ConfigError, match="amp must be True or False"):
        init_model(str(cfg_path), amp="bf16")
    assert init_model(str(cfg_path)).inference_amp is False
    model = init_model(str(cfg_path), amp=True, cfg_options=dict(
        tta_model=dict(type="SegTTAModel"),
        tta_pipeline=[dict(type="LoadImageFromFile"), dict(type="TestTimeAug", transforms=[
            [dict(type="RandomFlip", prob=0.0, direction="horizontal")], [dict(type="PackSegInputs")]])]))
    wrapped = enable_tta(model)
    assert wrapped.inference_amp is True
    assert inference_model(wrapped, str(images[0])).seg_logits.data.dtype == torch.bfloat16
