import pytest
import torch

from seglab.structures import PixelData, SegDataSample


def test_tensor_fields_are_wrapped_and_metainfo_is_readable():
    sample = SegDataSample(metainfo=dict(img_shape=(4, 5), img_path="a.png"))
    sample.gt_sem_seg = torch.zeros(4, 5, dtype=torch.long)
    assert isinstance(sample.gt_sem_seg, PixelData)
    assert sample.gt_sem_seg.data.shape == (1, 4, 5)
    assert sample.gt_sem_seg.shape == (4, 5)
    assert sample.img_shape == (4, 5)
    assert sample.get("missing", 3) == 3
    assert "img_path" in sample and "pred_sem_seg" not in sample
    sample.set_metainfo(dict(flip=True))
    assert sample.metainfo["flip"] is True
    with pytest.raises(AttributeError, match="nope"):
        _ = sample.nope


def test_to_copies_tensors_and_keeps_metainfo():
    sample = SegDataSample(metainfo=dict(ori_shape=(2, 2)), seg_logits=torch.ones(3, 2, 2))
    moved = sample.to(torch.float64)
    assert moved.seg_logits.data.dtype == torch.float64
    assert sample.seg_logits.data.dtype == torch.float32
    assert moved.ori_shape == (2, 2)
