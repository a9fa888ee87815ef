"""CamVidDataset on the shared SegNet-prepared copy: counts, classes, void -> ignore."""
from __future__ import annotations

import numpy as np
import pytest
from _shared import CAMVID, require

from seglab.datasets import CamVidDataset
from seglab.datasets.transforms.loading import read_mask


@pytest.fixture(autouse=True)
def _camvid_present() -> None:
    require(CAMVID / "trainannot")  # fails, never skips, without the shared data

PIPELINE = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"), dict(type="PackSegInputs")]


def test_splits_and_metainfo() -> None:
    train = CamVidDataset(data_root=str(CAMVID), data_prefix=dict(img_path="train", seg_map_path="trainannot"))
    val = CamVidDataset(data_root=str(CAMVID), data_prefix=dict(img_path="val", seg_map_path="valannot"))
    assert (len(train), len(val)) == (367, 101)
    meta = train.metainfo
    assert len(meta["classes"]) == 11 and meta["classes"][0] == "sky" and meta["classes"][-1] == "bicyclist"
    assert meta["palette"][4] == [60, 40, 222] and len(meta["palette"]) == 11
    assert meta["label_map"] == {11: 255} and meta["reduce_zero_label"] is False


def test_void_becomes_ignore() -> None:
    ds = CamVidDataset(data_root=str(CAMVID), data_prefix=dict(img_path="val", seg_map_path="valannot"),
                       pipeline=PIPELINE, indices=3)
    for i in range(len(ds)):
        raw = read_mask(ds.get_data_info(i)["seg_map_path"])
        item = ds[i]
        seg = item["data_samples"].gt_sem_seg.data[0].numpy()
        assert item["inputs"].shape == (3, 360, 480) and seg.shape == (360, 480)
        np.testing.assert_array_equal(seg == 255, raw == 11)
        np.testing.assert_array_equal(seg[raw < 11], raw[raw < 11])
    assert (raw == 11).any()  # the check above was not vacuous


def test_class_subset_keeps_void_ignored() -> None:
    ds = CamVidDataset(data_root=str(CAMVID), data_prefix=dict(img_path="val", seg_map_path="valannot"),
                       metainfo=dict(classes=("road", "car")), pipeline=PIPELINE, indices=1)
    raw = read_mask(ds.get_data_info(0)["seg_map_path"])
    seg = ds[0]["data_samples"].gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(seg, np.select([raw == 3, raw == 8], [0, 1], 255))
