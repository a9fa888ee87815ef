"""MMSeg's public datasets: class counts, suffixes and reduce_zero_label defaults; folder and wrapper datasets."""
from __future__ import annotations

import inspect
from pathlib import Path

import cv2
import numpy as np
import pytest

from seglab.datasets import ConcatDataset, FolderSegDataset
from seglab.registry import DATASETS


def write_pair(root: Path, stem: str, label: np.ndarray, img_suffix: str, seg_suffix: str) -> None:
    """Write an image and its index mask under img_dir/ and ann_dir/."""
    for sub in ("img_dir", "ann_dir"):
        (root / sub).mkdir(exist_ok=True)
    assert cv2.imwrite(str(root / "img_dir" / f"{stem}{img_suffix}"), np.stack([label * 10] * 3, -1))
    assert cv2.imwrite(str(root / "ann_dir" / f"{stem}{seg_suffix}"), label)


# name: (num classes, first class, img_suffix, seg_map_suffix, reduce_zero_label) -- from MMSeg 1.2.2
ZOO = {
    "CityscapesDataset": (19, "road", "_leftImg8bit.png", "_gtFine_labelTrainIds.png", False),
    "ADE20KDataset": (150, "wall", ".jpg", ".png", True),
    "PascalVOCDataset": (21, "background", ".jpg", ".png", False),
    "PascalContextDataset": (60, "background", ".jpg", ".png", False),
    "PascalContextDataset59": (59, "aeroplane", ".jpg", ".png", True),
    "COCOStuffDataset": (171, "person", ".jpg", "_labelTrainIds.png", False),
    "LoveDADataset": (7, "background", ".png", ".png", True),
    "PotsdamDataset": (6, "impervious_surface", ".png", ".png", True),
    "ISPRSDataset": (6, "impervious_surface", ".png", ".png", True),
    "iSAIDDataset": (16, "background", ".png", "_instance_color_RGB.png", False),
    "DRIVEDataset": (2, "background", ".png", "_manual1.png", False),
    "STAREDataset": (2, "background", ".png", ".ah.png", False),
    "ChaseDB1Dataset": (2, "background", ".png", "_1stHO.png", False),
    "HRFDataset": (2, "background", ".png", ".png", False),
    "DarkZurichDataset": (19, "road", "_rgb_anon.png", "_gt_labelTrainIds.png", False),
    "NightDrivingDataset": (19, "road", "_leftImg8bit.png", "_gtCoarse_labelTrainIds.png", False),
    "BDD100KDataset": (19, "road", ".jpg", ".png", False),
    "MapillaryDataset_v1": (66, "Bird", ".jpg", ".png", False),
    "MapillaryDataset_v2": (124, "Bird", ".jpg", ".png", False),
    "SynapseDataset": (9, "background", ".jpg", ".png", False),
    "LIPDataset": (20, "Background", ".jpg", ".png", False),
    "REFUGEDataset": (3, "background", ".png", ".png", False),
}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_dataset_defaults_and_loading(name: str, tmp_path: Path) -> None:
    n, first, img_suffix, seg_suffix, rzl = ZOO[name]
    cls = DATASETS.get(name)
    classes, palette = cls.METAINFO["classes"], cls.METAINFO["palette"]
    assert len(classes) == n and classes[0] == first and len(palette) == n
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in palette)
    label = (np.arange(12).reshape(3, 4) % min(n, 3)).astype(np.uint8)
    write_pair(tmp_path, "s0", label, img_suffix=img_suffix, seg_suffix=seg_suffix)
    kwargs = dict(data_root=str(tmp_path), data_prefix=dict(img_path="img_dir", seg_map_path="ann_dir"),
                  pipeline=[dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"), dict(type="PackSegInputs")])
    if "ann_file" in inspect.signature(cls.__init__).parameters:
        (tmp_path / "split.txt").write_text("s0\n")
        kwargs["ann_file"] = "split.txt"
    ds = cls(**kwargs)
    assert len(ds) == 1 and ds.reduce_zero_label is rzl
    assert ds.img_suffix == img_suffix and ds.seg_map_suffix == seg_suffix
    seg = ds[0]["data_samples"].gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(seg, np.where(label == 0, 255, label - 1) if rzl else label)


def test_registry_knows_all() -> None:
    assert len(ZOO) >= 22 and all(n in DATASETS for n in ZOO)


def test_folder_dataset(tiny_root: Path) -> None:
    ds = FolderSegDataset(data_root=str(tiny_root), img_dir="img_dir", ann_dir="ann_dir", img_suffix=".png",
                          classes=["a", "b", "c", "d"], pipeline=[dict(type="LoadImageFromFile"),
                                                                  dict(type="LoadAnnotations")])
    assert len(ds) == 3 and ds.metainfo["classes"] == ("a", "b", "c", "d") and len(ds.metainfo["palette"]) == 4
    assert ds[0]["gt_seg_map"].max() == 3
    three = FolderSegDataset(data_root=str(tiny_root), img_dir="img_dir", ann_dir="ann_dir", img_suffix=".png",
                             classes=["a", "b", "c"], pipeline=[dict(type="LoadImageFromFile"),
                                                                dict(type="LoadAnnotations")])
    with pytest.raises(ValueError, match="exceed num_classes-1=2"):
        three[0]


def test_concat_and_repeat(tiny_root: Path) -> None:
    cfg = dict(type="FolderSegDataset", data_root=str(tiny_root), img_dir="img_dir", ann_dir="ann_dir",
               img_suffix=".png", classes=["a", "b", "c", "d"])
    cat = ConcatDataset([cfg, dict(cfg, indices=1)])
    assert len(cat) == 4 and cat.metainfo["classes"] == ("a", "b", "c", "d")
    assert cat.get_data_info(3)["img_path"] == cat.get_data_info(0)["img_path"]
    assert cat.get_data_info(-1)["img_path"].endswith("a.png") and cat.get_data_info(2)["img_path"].endswith("c.png")
    with pytest.raises(ValueError, match="other classes"):
        ConcatDataset([cfg, dict(cfg, classes=["a", "b", "c", "x"])])
    rep = DATASETS.build(dict(type="RepeatDataset", dataset=cfg, times=3))
    assert len(rep) == 9 and rep.get_data_info(4)["img_path"].endswith("b.png")
    with pytest.raises(IndexError):
        rep[9]
