"""BaseSegDataset: pairing, ann_file, class subsets, pipeline, serialization and bad-input errors."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from seglab.datasets import BaseSegDataset, pseudo_collate
from seglab.registry import DATASETS

PREFIX = dict(img_path="img_dir", seg_map_path="ann_dir")
PIPELINE = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"), dict(type="PackSegInputs")]


class Four(BaseSegDataset):
    METAINFO = dict(classes=("c0", "c1", "c2", "c3"), palette=[[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3]])


def make(root: Path, **kw) -> Four:
    kw.setdefault("data_prefix", PREFIX)
    kw.setdefault("img_suffix", ".png")
    return Four(data_root=str(root), **kw)


def test_scans_recursively_and_pairs_by_name(tiny_root: Path) -> None:
    ds = make(tiny_root)
    assert len(ds) == 3
    info = ds.get_data_info(2)
    assert info["img_path"] == str(tiny_root / "img_dir" / "sub" / "c.png")
    assert info["seg_map_path"] == str(tiny_root / "ann_dir" / "sub" / "c.png")
    assert info["label_map"] is None and info["reduce_zero_label"] is False and info["seg_fields"] == []
    assert info["sample_idx"] == 2 and info["num_classes"] == 4 and info["ignore_index"] == 255
    assert [ds.get_data_info(i)["img_path"].endswith(s) for i, s in enumerate(["a.png", "b.png", "c.png"])] == [True] * 3
    assert ds.metainfo["classes"] == ("c0", "c1", "c2", "c3")


def test_getitem_runs_pipeline(tiny_root: Path) -> None:
    ds = make(tiny_root, pipeline=PIPELINE)
    item = ds[1]
    label = (np.arange(48).reshape(6, 8) + 1) % 4
    assert item["inputs"].dtype == torch.uint8 and item["inputs"].shape == (3, 6, 8)
    assert torch.equal(item["data_samples"].gt_sem_seg.data[0], torch.from_numpy(label).long())
    # BGR on disk as written: channel 0 = label*10
    assert torch.equal(item["inputs"][0], torch.from_numpy(label * 10).to(torch.uint8))
    batch = pseudo_collate([ds[0], ds[1]])
    assert isinstance(batch["inputs"], list) and len(batch["inputs"]) == 2 and len(batch["data_samples"]) == 2


def test_pipeline_accepts_callables_and_build(tiny_root: Path) -> None:
    ds = DATASETS.build(dict(type=Four, data_root=str(tiny_root), data_prefix=PREFIX, img_suffix=".png",
                             pipeline=[lambda r: dict(r, extra=7)]))
    assert ds[0]["extra"] == 7


def test_ann_file_lists_stems(tiny_root: Path) -> None:
    (tiny_root / "split.txt").write_text("b\nsub/c\n")
    ds = make(tiny_root, ann_file="split.txt")
    assert [Path(ds.get_data_info(i)["img_path"]).name for i in range(len(ds))] == ["b.png", "c.png"]


def test_ann_file_missing_mask_named(tiny_root: Path) -> None:
    (tiny_root / "split.txt").write_text("a\nnope\n")
    with pytest.raises(FileNotFoundError, match="nope.png"):
        make(tiny_root, ann_file="split.txt")


def test_class_subset_builds_label_map_and_palette(tiny_root: Path) -> None:
    ds = make(tiny_root, metainfo=dict(classes=("c3", "c1")), pipeline=PIPELINE)
    assert ds.label_map == {0: 255, 1: 1, 2: 255, 3: 0}
    assert ds.metainfo["palette"] == [[3, 3, 3], [1, 1, 1]]
    seg = ds[0]["data_samples"].gt_sem_seg.data[0].numpy()
    raw = np.arange(48).reshape(6, 8) % 4
    expect = np.select([raw == 3, raw == 1], [0, 1], 255)
    np.testing.assert_array_equal(seg, expect)


def test_class_subset_unknown_class(tiny_root: Path) -> None:
    with pytest.raises(ValueError, match="dog"):
        make(tiny_root, metainfo=dict(classes=("c1", "dog")))


def test_indices_lazy_init_and_serialization(tiny_root: Path) -> None:
    ds = make(tiny_root, lazy_init=True)
    assert not ds._fully_initialized
    assert len(ds) == 3 and ds._fully_initialized
    assert len(make(tiny_root, indices=2)) == 2
    assert make(tiny_root, indices=[2]).get_data_info(0)["img_path"].endswith("c.png")
    plain = make(tiny_root, serialize_data=False)
    packed = make(tiny_root, serialize_data=True)
    for i in range(3):
        assert plain.get_data_info(i) == packed.get_data_info(i)
    assert packed.get_data_info(-1)["sample_idx"] == 2


def test_refetch_when_pipeline_drops_sample(tiny_root: Path) -> None:
    calls = []

    def drop_first(r: dict) -> dict | None:
        calls.append(r["sample_idx"])
        return None if r["sample_idx"] == 0 else r

    np.random.seed(0)
    out = make(tiny_root, pipeline=[drop_first])[0]
    assert out["sample_idx"] != 0 and calls[0] == 0
    with pytest.raises(RuntimeError, match="test mode"):
        make(tiny_root, pipeline=[drop_first], test_mode=True)[0]


def test_missing_data_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does_not_exist"):
        make(tmp_path / "does_not_exist")


def test_missing_image_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="img_dir"):
        make(tmp_path)


def test_image_without_mask(tiny_root: Path) -> None:
    (tiny_root / "ann_dir" / "b.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 images .* no label map.*b\.png"):
        make(tiny_root)


def test_masks_without_images_listed_with_count(tiny_root: Path) -> None:
    for i in range(7):
        cv2.imwrite(str(tiny_root / "ann_dir" / f"orphan{i}.png"), np.zeros((6, 8), np.uint8))
    with pytest.raises(FileNotFoundError, match=r"7 label maps .* no image.*orphan0\.png.*and 2 others"):
        make(tiny_root)


def test_empty_dataset(tmp_path: Path) -> None:
    (tmp_path / "img_dir").mkdir()
    (tmp_path / "ann_dir").mkdir()
    with pytest.raises(ValueError, match="no samples found.*img_suffix='.png'"):
        make(tmp_path)


def test_corrupt_image_named(tiny_root: Path) -> None:
    (tiny_root / "img_dir" / "a.png").write_bytes(b"not a png")
    ds = make(tiny_root, pipeline=PIPELINE)
    with pytest.raises(ValueError, match=r"a\.png: cannot decode"):
        ds[0]


def test_mask_values_above_num_classes(tiny_root: Path) -> None:
    cv2.imwrite(str(tiny_root / "ann_dir" / "a.png"), np.full((6, 8), 9, np.uint8))
    ds = make(tiny_root, pipeline=PIPELINE)
    with pytest.raises(ValueError, match=r"a\.png: label values \[9\] exceed num_classes-1=3"):
        ds[0]
    ds[1]  # other samples still load


def test_mask_size_mismatch(tiny_root: Path) -> None:
    cv2.imwrite(str(tiny_root / "ann_dir" / "b.png"), np.zeros((5, 8), np.uint8))
    with pytest.raises(ValueError, match=r"b\.png: mask size \(5, 8\) differs"):
        make(tiny_root, pipeline=PIPELINE)[1]


def test_reduce_zero_label_set_once_on_dataset(tiny_root: Path) -> None:
    ds = make(tiny_root, reduce_zero_label=True, pipeline=PIPELINE)
    seg = ds[0]["data_samples"].gt_sem_seg.data[0].numpy()
    raw = np.arange(48).reshape(6, 8) % 4
    np.testing.assert_array_equal(seg, np.where(raw == 0, 255, raw - 1))
    assert ds[0]["data_samples"].reduce_zero_label is True
