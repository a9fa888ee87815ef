"""LoadAnnotations(color_map=...), datasets with rgb_label=True, and 16-bit/JPEG/TIFF images through
LoadImageFromFile -> PackSegInputs -> SegDataPreProcessor with their values kept."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from _optional import require

import seglab.models  # noqa: F401 - registers SegDataPreProcessor
from seglab.datasets import BaseSegDataset, pseudo_collate
from seglab.registry import MODELS, TRANSFORMS

PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
INDEX = np.array([[0, 1, 2, 1], [2, 2, 0, 1], [1, 0, 0, 2]])


def write_colour(path: Path, index: np.ndarray, palette=PALETTE) -> None:
    rgb = np.array(palette, np.uint8)[index]
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rgb[:, :, ::-1])


def test_load_annotations_color_map_list_and_dict(tmp_path: Path) -> None:
    write_colour(tmp_path / "m.png", INDEX)
    t = TRANSFORMS.build(dict(type="LoadAnnotations", color_map=PALETTE))
    out = t(dict(seg_map_path=str(tmp_path / "m.png")))
    np.testing.assert_array_equal(out["gt_seg_map"], INDEX)
    assert out["gt_seg_map"].dtype == np.uint8 and out["seg_fields"] == ["gt_seg_map"]
    t = TRANSFORMS.build(dict(type="LoadAnnotations",
                              color_map={(0, 0, 0): 255, (128, 0, 0): 0, (0, 128, 0): 1}))
    np.testing.assert_array_equal(t(dict(seg_map_path=str(tmp_path / "m.png")))["gt_seg_map"],
                                  np.array([255, 0, 1], np.uint8)[INDEX])
    # reduce_zero_label applies after the colour lookup, as for index masks
    t = TRANSFORMS.build(dict(type="LoadAnnotations", color_map=PALETTE, reduce_zero_label=True))
    np.testing.assert_array_equal(t(dict(seg_map_path=str(tmp_path / "m.png")))["gt_seg_map"],
                                  np.array([255, 0, 1], np.uint8)[INDEX])


def test_load_annotations_unknown_colour_names_file_and_colours(tmp_path: Path) -> None:
    write_colour(tmp_path / "odd.png", INDEX, palette=[[0, 0, 0], [128, 0, 0], [1, 2, 3]])
    t = TRANSFORMS.build(dict(type="LoadAnnotations", color_map=PALETTE))
    with pytest.raises(ValueError, match=r"odd\.png: 1 colour\(s\) not in color_map \(RGB\): \(1, 2, 3\) in 4 pixels"):
        t(dict(seg_map_path=str(tmp_path / "odd.png")))
    with pytest.raises(ValueError, match="twice"):
        TRANSFORMS.build(dict(type="LoadAnnotations", color_map=[[1, 2, 3], [1, 2, 3]]))


def test_dataset_rgb_label_uses_its_palette(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    for stem, shift in (("a", 0), ("b", 1)):
        cv2.imwrite(str(tmp_path / "img" / f"{stem}.png"), np.zeros((3, 4, 3), np.uint8))
        write_colour(tmp_path / "ann" / f"{stem}.png", (INDEX + shift) % 3)
    ds = BaseSegDataset(data_root=str(tmp_path), data_prefix=dict(img_path="img", seg_map_path="ann"),
                        img_suffix=".png", rgb_label=True,
                        metainfo=dict(classes=("bg", "red", "green"), palette=PALETTE),
                        pipeline=[dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"),
                                  dict(type="PackSegInputs")])
    assert ds.get_data_info(0)["color_map"] == PALETTE
    np.testing.assert_array_equal(ds[1]["data_samples"].gt_sem_seg.data[0].numpy(), (INDEX + 1) % 3)
    # a class subset: colours are looked up in the full palette, then label_map remaps
    class Three(BaseSegDataset):
        METAINFO = dict(classes=("bg", "red", "green"), palette=PALETTE)

    sub = Three(data_root=str(tmp_path), data_prefix=dict(img_path="img", seg_map_path="ann"), img_suffix=".png",
                rgb_label=True, metainfo=dict(classes=("green",)),
                pipeline=[dict(type="LoadImageFromFile"), dict(type="LoadAnnotations")])
    np.testing.assert_array_equal(sub[0]["gt_seg_map"], np.where(INDEX == 2, 0, 255))
    # without rgb_label a colour mask is rejected by the index-mask reader
    plain = BaseSegDataset(data_root=str(tmp_path), data_prefix=dict(img_path="img", seg_map_path="ann"),
                           img_suffix=".png", metainfo=dict(classes=("bg", "red", "green"), palette=PALETTE),
                           pipeline=[dict(type="LoadImageFromFile"), dict(type="LoadAnnotations")])
    with pytest.raises(ValueError, match="single-channel"):
        plain[0]


# ----------------------------------------------------------------------------- image formats
def _through_pipeline(path: Path, **load_kwargs) -> tuple[dict, torch.Tensor]:
    load = TRANSFORMS.build(dict(type="LoadImageFromFile", **load_kwargs))
    pack = TRANSFORMS.build(dict(type="PackSegInputs"))
    item = pack(load(dict(img_path=str(path))))
    pre = MODELS.build(dict(type="SegDataPreProcessor"))
    batch = pre(pseudo_collate([item]), training=False)["inputs"]
    return item, batch


def test_16bit_png_keeps_its_values(tmp_path: Path) -> None:
    img = np.array([[0, 255, 256, 1000], [4095, 40000, 65535, 7]], np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), img)
    item, batch = _through_pipeline(tmp_path / "g16.png", color_type="unchanged")
    assert item["inputs"].dtype == torch.uint16 and item["inputs"].shape == (1, 2, 4)
    assert batch.dtype == torch.float32
    np.testing.assert_array_equal(batch[0, 0].numpy(), img.astype(np.float32))
    rgb16 = np.stack([img, img // 2, img // 3], -1)
    cv2.imwrite(str(tmp_path / "c16.png"), rgb16)
    item, batch = _through_pipeline(tmp_path / "c16.png", color_type="unchanged")
    np.testing.assert_array_equal(batch[0].permute(1, 2, 0).numpy(), rgb16.astype(np.float32))
    # the default 'color' decodes to 8 bits, as OpenCV (and MMCV) do
    item, _ = _through_pipeline(tmp_path / "g16.png")
    assert item["inputs"].dtype == torch.uint8 and item["inputs"].shape == (3, 2, 4)


def test_jpeg_and_tiff(tmp_path: Path) -> None:
    flat = np.full((8, 8, 3), (10, 120, 240), np.uint8)  # a flat JPEG decodes (almost) exactly
    cv2.imwrite(str(tmp_path / "x.jpg"), flat, [cv2.IMWRITE_JPEG_QUALITY, 100])
    _, batch = _through_pipeline(tmp_path / "x.jpg")
    assert np.abs(batch[0].permute(1, 2, 0).numpy() - flat).max() <= 1
    tifffile = require("tifffile")
    rgb = np.arange(2 * 3 * 3, dtype=np.uint16).reshape(2, 3, 3) * 3000
    tifffile.imwrite(str(tmp_path / "x.tif"), rgb)
    item, batch = _through_pipeline(tmp_path / "x.tif", imdecode_backend="tifffile", color_type="unchanged")
    np.testing.assert_array_equal(batch[0].permute(1, 2, 0).numpy(), rgb.astype(np.float32))  # RGB order kept
    item, batch = _through_pipeline(tmp_path / "x.tif", color_type="unchanged")  # OpenCV: BGR order
    np.testing.assert_array_equal(batch[0].permute(1, 2, 0).numpy(), rgb[:, :, ::-1].astype(np.float32))
    floats = np.array([[0.25, -1.5], [1e6, 3.0]], np.float32)
    tifffile.imwrite(str(tmp_path / "f.tif"), floats)
    item, batch = _through_pipeline(tmp_path / "f.tif", imdecode_backend="tifffile")
    np.testing.assert_array_equal(batch[0, 0].numpy(), floats)


def test_16bit_training_batch_is_normalised_and_padded(tmp_path: Path) -> None:
    img = np.array([[0, 65535], [30000, 2]], np.uint16)
    cv2.imwrite(str(tmp_path / "g.png"), img)
    cv2.imwrite(str(tmp_path / "m.png"), np.array([[0, 1], [1, 0]], np.uint8))
    pipeline = [TRANSFORMS.build(dict(type="LoadImageFromFile", color_type="unchanged")),
                TRANSFORMS.build(dict(type="LoadAnnotations")), TRANSFORMS.build(dict(type="PackSegInputs"))]
    results = dict(img_path=str(tmp_path / "g.png"), seg_map_path=str(tmp_path / "m.png"))
    for t in pipeline:
        results = t(results)
    pre = MODELS.build(dict(type="SegDataPreProcessor", mean=[100.0], std=[2.0], size=(3, 3)))
    out = pre(pseudo_collate([results]), training=True)
    expected = np.zeros((3, 3), np.float32)
    expected[:2, :2] = (img.astype(np.float32) - 100) / 2
    np.testing.assert_allclose(out["inputs"][0, 0].numpy(), expected)
