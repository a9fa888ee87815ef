"""PackSegInputs and Compose."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from seglab.datasets.transforms import Compose, PackSegInputs
from seglab.structures import SegDataSample


def test_pack_seg_inputs() -> None:
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    seg = np.array([[0, 1, 255], [2, 3, 4]], np.uint8)
    out = PackSegInputs()(dict(img=img, gt_seg_map=seg, img_path="x.png", ori_shape=(2, 3), img_shape=(2, 3),
                               flip=False, other="dropped"))
    assert out["inputs"].dtype == torch.uint8 and out["inputs"].shape == (3, 2, 3)
    assert torch.equal(out["inputs"], torch.from_numpy(img).permute(2, 0, 1))
    sample = out["data_samples"]
    assert isinstance(sample, SegDataSample)
    assert sample.gt_sem_seg.data.dtype == torch.int64 and sample.gt_sem_seg.data.shape == (1, 2, 3)
    assert sample.gt_sem_seg.data[0, 0, 2] == 255
    assert sample.metainfo == dict(img_path="x.png", ori_shape=(2, 3), img_shape=(2, 3), flip=False)
    gray = PackSegInputs(meta_keys=("img_path",))(dict(img=np.zeros((2, 3), np.uint8), img_path="g"))
    assert gray["inputs"].shape == (1, 2, 3) and gray["data_samples"].gt_sem_seg is None


def test_compose_builds_stops_on_none_and_rejects_junk() -> None:
    c = Compose([dict(type="PackSegInputs"), lambda r: None, lambda r: 1 / 0])
    assert c(dict(img=np.zeros((1, 1, 3), np.uint8))) is None
    assert "PackSegInputs" in repr(c) and len(c) == 3
    with pytest.raises(TypeError, match="pipeline entry 0"):
        Compose([42])
