"""NYUDataset (MMSeg layout, category ids, missing depth maps), RandomDepthMix and packing depth maps."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from seglab.datasets import NYUDataset
from seglab.datasets.nyu import nyu_category_id
from seglab.registry import DATASETS, TRANSFORMS


def write(root, names, split="train", depth=True):  # noqa: ANN001, ANN201
    for name in names:
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), np.full((6, 8, 3), 100, np.uint8))
        if depth:
            (root / "annotations" / split).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / "annotations" / split / f"{name}.png"), np.full((6, 8), 2500, np.uint16))


def test_scan_pairs_images_with_depth_maps_and_category_ids(tmp_path):
    write(tmp_path, ["living_room_0002", "bathroom_0001", "unknown_0003"])
    ds = DATASETS.build(dict(type="NYUDataset", data_root=str(tmp_path),
                             data_prefix=dict(img_path="images/train", depth_map_path="annotations/train"),
                             pipeline=[dict(type="LoadImageFromFile"),
                                       dict(type="LoadDepthAnnotation", depth_rescale_factor=1e-3),
                                       dict(type="PackSegInputs", meta_keys=("img_path", "category_id"))]))
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [i["img_path"].rsplit("/", 1)[1] for i in infos] == ["bathroom_0001.jpg", "living_room_0002.jpg",
                                                                 "unknown_0003.jpg"]
    assert infos[0]["depth_map_path"] == str(tmp_path / "annotations/train/bathroom_0001.png")
    assert [i["category_id"] for i in infos] == [1, 2, -1]
    item = ds[0]
    depth = item["data_samples"].gt_depth_map.data
    assert depth.shape == (1, 6, 8) and depth.dtype.is_floating_point and depth.eq(2.5).all()
    assert item["data_samples"].category_id == 1 and item["data_samples"].get("gt_sem_seg") is None


def test_category_id_rule_matches_mmseg():
    classes = NYUDataset.METAINFO["classes"]
    assert len(classes) == 27 and nyu_category_id("a/b/home_office_0012_rgb.jpg", classes) == 7
    assert nyu_category_id("nodigits.jpg", classes) == -1 and nyu_category_id("0001.jpg", classes) == -1


def test_missing_depth_map_names_the_prefix_and_the_file(tmp_path):
    write(tmp_path, ["kitchen_0001"])
    write(tmp_path, ["kitchen_0002"], depth=False)
    with pytest.raises(FileNotFoundError, match=r"depth_map_path.*kitchen_0002\.png"):
        NYUDataset(data_root=str(tmp_path), data_prefix=dict(img_path="images/train",
                                                             depth_map_path="annotations/train"))


def test_random_depth_mix_pastes_a_band_of_depth_in_file_units():
    img = np.zeros((4, 10, 3), np.uint8)
    depth = np.arange(10, dtype=np.float32)[None].repeat(4, 0) * 0.01  # metres; file units = 10 mm per column
    random.seed(3)
    draws = [random.random() for _ in range(3)]
    random.seed(3)
    out = TRANSFORMS.build(dict(type="RandomDepthMix", prob=1.0, mix_scale_ratio=0.75))(
        dict(img=img, gt_depth_map=depth, depth_rescale_factor=0.01, img_shape=(4, 10)))["img"]
    left = int(10 * draws[1])
    width = int(max(1, (10 - left) * 0.75 * draws[2]))
    expected = np.zeros_like(img)
    expected[:, left : left + width] = np.arange(10, dtype=np.uint8)[left : left + width, None]
    np.testing.assert_array_equal(out, expected)
    assert not img.any()  # the input array is not modified in place


def test_random_depth_mix_saturates_integer_images_and_respects_prob():
    img = np.zeros((2, 50, 3), np.uint8)
    random.seed(0)
    out = TRANSFORMS.build(dict(type="RandomDepthMix", prob=1.0, mix_scale_ratio=1.0))(
        dict(img=img, gt_depth_map=np.full((2, 50), 4.0, np.float32), depth_rescale_factor=1e-3))["img"]
    assert set(np.unique(out)) <= {0, 255} and out.max() == 255  # 4000 mm saturates instead of wrapping
    kept = TRANSFORMS.build(dict(type="RandomDepthMix", prob=0.0))(dict(img=img, gt_depth_map=img[..., 0]))
    assert kept["img"] is img
