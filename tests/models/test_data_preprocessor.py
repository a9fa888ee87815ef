"""SegDataPreProcessor: normalisation, channel flip, padding of images and labels, metainfo, errors."""
import pytest
import torch

from seglab.models import SegDataPreProcessor
from seglab.registry import MODELS, ConfigError
from seglab.structures import SegDataSample


def batch(shapes, channels=3):
    torch.manual_seed(0)
    inputs = [torch.randint(0, 256, (channels, h, w), dtype=torch.uint8) for h, w in shapes]
    samples = [SegDataSample(metainfo=dict(ori_shape=(h, w), img_shape=(h, w)),
                             gt_sem_seg=torch.randint(0, 5, (1, h, w))) for h, w in shapes]
    return dict(inputs=inputs, data_samples=samples)


def test_normalise_flip_and_pad_to_size_divisor_in_training():
    pre = SegDataPreProcessor(mean=[10.0, 20.0, 30.0], std=[2.0, 4.0, 5.0], size_divisor=8, pad_val=-1,
                              bgr_to_rgb=True)
    data = batch([(10, 13), (7, 16)])
    out = pre(data, training=True)
    x, samples = out["inputs"], out["data_samples"]
    assert x.shape == (2, 3, 16, 16) and x.dtype == torch.float32
    img = data["inputs"][0].float().flip(0)
    expected = (img - torch.tensor([10.0, 20.0, 30.0]).view(3, 1, 1)) / torch.tensor([2.0, 4.0, 5.0]).view(3, 1, 1)
    assert torch.allclose(x[0, :, :10, :13], expected)
    assert (x[0, :, 10:] == -1).all() and (x[0, :, :, 13:] == -1).all()  # padding after normalisation
    gt = samples[0].gt_sem_seg.data
    assert gt.shape == (1, 16, 16) and (gt[:, 10:] == 255).all() and (gt[:, :, 13:] == 255).all()
    assert torch.equal(gt[:, :10, :13], data["data_samples"][0].gt_sem_seg.data)
    for s in samples:
        assert s.batch_input_shape == (16, 16) and s.pad_shape == (16, 16)
    assert samples[1].padding_size == [0, 0, 0, 9] and samples[1].img_shape == (7, 16)
    assert data["data_samples"][0].gt_sem_seg.data.shape == (1, 10, 13)  # caller's samples untouched


def test_pad_to_fixed_size_with_seg_pad_val():
    pre = MODELS.build(dict(type="SegDataPreProcessor", size=(12, 20), seg_pad_val=0))
    out = pre(batch([(10, 13)]), training=True)
    assert out["inputs"].shape == (1, 3, 12, 20)
    assert (out["data_samples"][0].gt_sem_seg.data[:, 10:] == 0).all()


def test_n_channel_mean_std_without_flip():
    pre = SegDataPreProcessor(mean=[1.0, 2.0, 3.0, 4.0], std=[1.0, 1.0, 1.0, 2.0], bgr_to_rgb=True)
    data = batch([(6, 6)], channels=4)
    x = pre(data)["inputs"]
    assert torch.allclose(x[0, 3], (data["inputs"][0][3].float() - 4.0) / 2.0)  # 4 channels: no flip
    assert torch.allclose(x[0, 0], data["inputs"][0][0].float() - 1.0)


def test_channel_count_mismatch_is_a_clear_error():
    pre = SegDataPreProcessor(mean=[0.0] * 3, std=[1.0] * 3)
    with pytest.raises(ValueError, match="4 channels but mean/std have 3"):
        pre(batch([(4, 4)], channels=4))


def test_test_time_padding_records_padding_size():
    pre = SegDataPreProcessor(test_cfg=dict(size_divisor=32))
    out = pre(batch([(20, 40)]), training=False)
    assert out["inputs"].shape == (1, 3, 32, 64)
    meta = out["data_samples"][0].metainfo
    assert meta["img_padding_size"] == [0, 24, 0, 12] and meta["pad_shape"] == (32, 64)
    assert meta["img_shape"] == (20, 40)


def test_test_time_without_padding_needs_equal_sizes():
    pre = SegDataPreProcessor()
    assert pre(batch([(5, 6), (5, 6)]))["inputs"].shape == (2, 3, 5, 6)
    with pytest.raises(ValueError, match="share one size"):
        pre(batch([(5, 6), (6, 5)]))


def test_follows_the_model_device_and_stays_out_of_state_dict():
    pre = SegDataPreProcessor(mean=[0.0] * 3, std=[1.0] * 3)
    assert pre.state_dict() == {}
    pre = pre.to(torch.float64)  # buffers follow .to(); the device probe tells where inputs go
    assert pre.device == torch.device("cpu")
    assert pre(batch([(4, 4)]))["inputs"].device.type == "cpu"


def test_config_errors():
    with pytest.raises(ConfigError, match="bgr_to_rgb and rgb_to_bgr"):
        SegDataPreProcessor(bgr_to_rgb=True, rgb_to_bgr=True)
    with pytest.raises(ConfigError, match="only one of size"):
        SegDataPreProcessor(size=(8, 8), size_divisor=8)
    with pytest.raises(ConfigError, match="both mean and std"):
        SegDataPreProcessor(mean=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="larger than the padding size"):
        SegDataPreProcessor(size=(4, 4))(batch([(6, 6)]), training=True)


def test_batch_augments_are_applied_in_training():
    calls = []

    def aug(inputs, samples):
        calls.append(inputs.shape)
        return inputs * 0, samples

    pre = SegDataPreProcessor(batch_augments=[aug])
    assert (pre(batch([(4, 4)]), training=True)["inputs"] == 0).all() and calls == [(1, 3, 4, 4)]
    pre(batch([(4, 4)]), training=False)
    assert len(calls) == 1
