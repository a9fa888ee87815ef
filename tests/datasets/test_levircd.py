"""LEVIRCDDataset + ConcatCDInput: pairs found in A/ B/ label/, packed as 6 channels, through a forward pass."""
import cv2
import numpy as np
import pytest
import torch
from torch import nn

import seglab.models  # noqa: F401 - registration
from seglab.datasets import pseudo_collate
from seglab.datasets.transforms import ConcatCDInput
from seglab.registry import DATASETS, MODELS

PIPELINE = [dict(type="LoadMultipleRSImageFromFile"), dict(type="LoadAnnotations"), dict(type="ConcatCDInput"),
            dict(type="PackSegInputs")]


@pytest.fixture
def levir_root(tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train",):
        for name in ("t1", "t2"):
            for sub in ("A", "B", "label"):
                (tmp_path / split / sub).mkdir(parents=True, exist_ok=True)
            a = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            b = a.copy()
            b[4:8, 4:8] = 255 - b[4:8, 4:8]
            label = np.zeros((16, 16), np.uint8)
            label[4:8, 4:8] = 1
            cv2.imwrite(str(tmp_path / split / "A" / f"{name}.png"), a)
            cv2.imwrite(str(tmp_path / split / "B" / f"{name}.png"), b)
            cv2.imwrite(str(tmp_path / split / "label" / f"{name}.png"), label)
    return tmp_path


def build(root):
    return DATASETS.build(dict(type="LEVIRCDDataset", data_root=str(root), pipeline=PIPELINE,
                               data_prefix=dict(img_path="train/A", img_path2="train/B", seg_map_path="train/label")))


def test_pairs_and_six_channel_packing(levir_root):
    ds = build(levir_root)
    assert len(ds) == 2 and ds.metainfo["classes"] == ("background", "changed")
    info = ds.get_data_info(0)
    assert info["img_path"].endswith("train/A/t1.png") and info["img_path2"].endswith("train/B/t1.png")
    item = ds[0]
    x = item["inputs"]
    assert tuple(x.shape) == (6, 16, 16) and x.dtype == torch.float32
    a = cv2.imread(info["img_path"], cv2.IMREAD_COLOR)[..., ::-1]  # loaders keep the file's RGB order
    b = cv2.imread(info["img_path2"], cv2.IMREAD_COLOR)[..., ::-1]
    np.testing.assert_array_equal(x[:3].numpy(), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(x[3:].numpy(), b.transpose(2, 0, 1))
    assert item["data_samples"].gt_sem_seg.data.sum() == 16


def test_missing_second_image_is_reported(levir_root):
    (levir_root / "train" / "B" / "t2.png").unlink()
    with pytest.raises(FileNotFoundError, match="t2.png"):
        build(levir_root)


def test_concat_needs_both_images():
    with pytest.raises(KeyError, match="LoadMultipleRSImageFromFile"):
        ConcatCDInput()(dict(img=np.zeros((2, 2, 3))))


class SixChannelBackbone(nn.Module):
    out_channels = [8]

    def __init__(self, in_channels: int = 6) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 8, 3, 2, 1)

    def forward(self, x):
        return (torch.relu(self.conv(x)),)


def six_channel_model(backbone: dict, in_channels: int) -> nn.Module:
    return MODELS.build(dict(
        type="EncoderDecoder", backbone=backbone,
        decode_head=dict(type="FCNHead", in_channels=in_channels, channels=8, num_convs=1, num_classes=2, out_channels=2,
                         concat_input=False),
        data_preprocessor=dict(type="SegDataPreProcessor", mean=[123.675, 116.28, 103.53] * 2,
                               std=[58.395, 57.12, 57.375] * 2, bgr_to_rgb=True, size_divisor=16)))


def _train_and_predict(model, ds):
    data = pseudo_collate([ds[0], ds[1]])
    batch = model.data_preprocessor(data, True)
    assert tuple(batch["inputs"].shape) == (2, 6, 16, 16)
    # Per-channel normalisation: channel 3 (the second image's R) uses mean[3]/std[3].
    np.testing.assert_allclose(batch["inputs"][0, 3].numpy(), (data["inputs"][0][3].numpy() - 123.675) / 58.395,
                               rtol=1e-5, atol=1e-5)
    losses = model(**batch, mode="loss")
    assert torch.isfinite(losses["decode.loss_ce"])
    model.eval()
    with torch.no_grad():
        preds = model.test_step(pseudo_collate([ds[0]]))
    assert tuple(preds[0].pred_sem_seg.data.shape) == (1, 16, 16)


def test_six_channel_pair_flows_to_a_forward_pass(levir_root):
    _train_and_predict(six_channel_model(dict(type=SixChannelBackbone), 8), build(levir_root))


def test_six_channel_pair_through_resnet_v1c(levir_root):
    backbone = dict(type="ResNetV1c", depth=18, in_channels=6, stem_channels=8, base_channels=8, num_stages=4, out_indices=(3,), strides=(1, 2, 2, 2),
                    dilations=(1, 1, 1, 1), norm_cfg=dict(type="BN"), contract_dilation=True)
    _train_and_predict(six_channel_model(backbone, 64), build(levir_root))
