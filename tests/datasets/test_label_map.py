"""label_map and reduce_zero_label on any dataset: MMSeg's order, composition, errors, file hints."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from seglab.datasets import BaseSegDataset, CamVidDataset, FolderSegDataset

PIPELINE = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations")]


def write_pair(root: Path, stem: str, label: np.ndarray, img_dir: str = "img_dir", ann_dir: str = "ann_dir") -> None:
    """A black image and its mask ``label``, both png."""
    for folder in (img_dir, ann_dir):
        (root / folder).mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(root / img_dir / f"{stem}.png"), np.zeros(label.shape + (3,), np.uint8))
    assert cv2.imwrite(str(root / ann_dir / f"{stem}.png"), label.astype(np.uint8))
MASK = np.array([[0, 0, 255, 255], [1, 2, 3, 255]])


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_pair(tmp_path, "a", MASK)
    return tmp_path


def _labels(ds: BaseSegDataset) -> np.ndarray:
    return ds[0]["gt_seg_map"]


def test_binary_0_255_read_as_classes(tmp_path: Path) -> None:
    write_pair(tmp_path, "m", np.array([[0, 255], [255, 0]]))
    ds = FolderSegDataset(img_dir=str(tmp_path / "img_dir"), ann_dir=str(tmp_path / "ann_dir"), img_suffix=".png",
                          classes=("background", "cell"), label_map={255: 1}, pipeline=PIPELINE)
    assert _labels(ds).tolist() == [[0, 1], [1, 0]]
    assert ds.metainfo["label_map"] == {255: 1} and ds.get_data_info(0)["label_map"] == {255: 1}


def test_unmapped_values_unchanged_and_chains_do_not_collide(root: Path) -> None:
    ds = BaseSegDataset(data_root=str(root), data_prefix=dict(img_path="img_dir", seg_map_path="ann_dir"),
                        img_suffix=".png", metainfo=dict(classes=("a", "b", "c", "d", "e")),
                        label_map={1: 2, 2: 3, 3: 4}, pipeline=PIPELINE)
    # every value is mapped from the original mask (1 -> 2 and 2 -> 3, not 1 -> 2 -> 3); 0 and 255 stay
    assert _labels(ds).tolist() == [[0, 0, 255, 255], [2, 3, 4, 255]]


def test_reduce_zero_label_runs_first(root: Path) -> None:
    # reduce_zero_label: 0 -> 255, v -> v - 1 (1 -> 0, 2 -> 1, 3 -> 2); then label_map {2: 0} merges class 2 into 0
    ds = BaseSegDataset(data_root=str(root), data_prefix=dict(img_path="img_dir", seg_map_path="ann_dir"),
                        img_suffix=".png", metainfo=dict(classes=("a", "b", "c")), reduce_zero_label=True,
                        label_map={2: 0}, pipeline=PIPELINE)
    assert _labels(ds).tolist() == [[255, 255, 255, 255], [0, 1, 0, 255]]


class _Void(BaseSegDataset):
    METAINFO = dict(classes=("a", "b", "c", "d"))
    RAW_LABEL_MAP = {3: 255}


def test_merges_with_raw_label_map_and_class_subset(root: Path) -> None:
    prefix = dict(img_path="img_dir", seg_map_path="ann_dir")
    ds = _Void(data_root=str(root), data_prefix=prefix, img_suffix=".png", label_map={2: 1}, pipeline=PIPELINE)
    assert ds.label_map == {3: 255, 2: 1}
    assert _labels(ds).tolist() == [[0, 0, 255, 255], [1, 1, 255, 255]]
    # the class subset (b, a) is applied after: raw 2 -> 1 (b) -> 0; raw 0 (a) -> 1; the rest -> ignore
    sub = _Void(data_root=str(root), data_prefix=prefix, img_suffix=".png", label_map={2: 1},
                metainfo=dict(classes=("b", "a")), pipeline=PIPELINE)
    assert _labels(sub).tolist() == [[1, 1, 255, 255], [0, 0, 255, 255]]
    # the user's entry wins over the subclass's for the same value
    assert _Void(data_root=str(root), data_prefix=prefix, img_suffix=".png", label_map={3: 2}).label_map == {3: 2}


def test_named_dataset_accepts_label_map(tmp_path: Path) -> None:
    write_pair(tmp_path, "x", np.array([[0, 11], [12, 1]]), img_dir="train", ann_dir="trainannot")
    ds = CamVidDataset(data_root=str(tmp_path), data_prefix=dict(img_path="train", seg_map_path="trainannot"),
                       label_map={12: 10}, pipeline=PIPELINE)
    assert _labels(ds).tolist() == [[0, 255], [10, 1]]


@pytest.mark.parametrize("bad, match", [({256: 1}, "outside 0..255"), ({"x": 1}, "integer"), ([255, 1], "dict")])
def test_bad_label_map_named(root: Path, bad, match: str) -> None:
    with pytest.raises(ValueError, match=f"FolderSegDataset: label_map.*{match}"):
        FolderSegDataset(img_dir=str(root / "img_dir"), ann_dir=str(root / "ann_dir"), classes=("a",), label_map=bad)


def test_wrong_img_suffix_names_the_path_and_the_suffix_found(root: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        FolderSegDataset(img_dir=str(root / "img_dir"), ann_dir=str(root / "ann_dir"), classes=("a",),
                         img_suffix=".png", seg_map_suffix="_mask.png")
    assert f"looked for {root / 'ann_dir' / 'a_mask.png'} (seg_map_suffix='_mask.png')" in str(info.value)
    assert "found a.png - set seg_map_suffix='.png'" in str(info.value)


def test_wrong_img_suffix_names_the_suffix_found(root: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"a.jpg \(img_suffix='.jpg'\); found a.png - set img_suffix='.png'"):
        FolderSegDataset(img_dir=str(root / "img_dir"), ann_dir=str(root / "ann_dir"), classes=("a",))


def test_no_sample_lists_the_suffixes_present(root: Path) -> None:
    with pytest.raises(ValueError, match=r"img_suffix='.jpg'.*end with \.png x1"):
        BaseSegDataset(data_prefix=dict(img_path=str(root / "img_dir"), seg_map_path=None),
                       metainfo=dict(classes=("a",)))
