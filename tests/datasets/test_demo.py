"""DemoShapesDataset: deterministic, fast generation in MMSeg layout; sane class statistics."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest

from seglab.datasets import DemoShapesDataset
from seglab.datasets.demo import CLASSES, generate_demo_shapes, make_scene
from seglab.datasets.transforms.loading import read_mask


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.png")):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def test_full_generation_is_fast_and_byte_identical(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    generate_demo_shapes(str(tmp_path / "a"))
    assert time.perf_counter() - t0 < 20
    generate_demo_shapes(str(tmp_path / "b"))
    assert len(list((tmp_path / "a" / "img_dir" / "train").glob("*.png"))) == 400
    assert len(list((tmp_path / "a" / "ann_dir" / "val").glob("*.png"))) == 100
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    val = DemoShapesDataset(data_root=str(tmp_path / "a"),
                            data_prefix=dict(img_path="img_dir/val", seg_map_path="ann_dir/val"))
    counts = np.zeros(len(CLASSES))
    present = np.zeros(len(CLASSES))
    for i in range(len(val)):
        m = read_mask(val.get_data_info(i)["seg_map_path"])
        c = np.bincount(m.ravel(), minlength=len(CLASSES))
        assert len(c) == len(CLASSES)  # no stray label values
        counts += c
        present += c > 0
    share = counts / counts.sum()
    assert 0.5 < share[0] < 0.85 and (share[1:] > 0.03).all()  # every object class is well represented
    assert (present[1:] >= 25).all()


def test_default_root_is_under_cwd_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ds = DemoShapesDataset(num_train=3, num_val=2, img_size=32)
    assert len(ds) == 3 and (tmp_path / "data" / "demo_shapes" / "demo_shapes.json").is_file()
    first = (tmp_path / "data/demo_shapes/img_dir/train/train_00000.png").stat().st_mtime_ns
    DemoShapesDataset(num_train=3, num_val=2, img_size=32)  # same settings: not rewritten
    assert (tmp_path / "data/demo_shapes/img_dir/train/train_00000.png").stat().st_mtime_ns == first
    val = DemoShapesDataset(num_train=3, num_val=2, img_size=32,
                            data_prefix=dict(img_path="img_dir/val", seg_map_path="ann_dir/val"),
                            pipeline=[dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"),
                                      dict(type="PackSegInputs")])
    assert len(val) == 2 and val[0]["inputs"].shape == (3, 32, 32)


def test_refuses_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a seglab demo dataset"):
        generate_demo_shapes(str(tmp_path), num_train=1, num_val=1)


def test_colour_alone_does_not_separate_shapes() -> None:
    # Shape classes have nearly touching hue ranges: the best per-pixel hue threshold must be imperfect.
    import cv2

    hues: dict[int, list[np.ndarray]] = {1: [], 2: [], 3: []}
    for seed in range(60):
        img, label = make_scene(seed)
        h = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)[..., 0].astype(int)
        for c in hues:
            hues[c].append(h[label == c])
    hist = np.stack([np.bincount(np.concatenate(hues[c]), minlength=180) for c in (1, 2, 3)])
    hist = hist / hist.sum(1, keepdims=True)
    bayes_acc = hist.max(0).sum() / 3  # accuracy of the best hue-only classifier (balanced classes)
    assert bayes_acc < 0.985
