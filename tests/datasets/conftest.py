"""Fixtures: tiny on-disk datasets in MMSeg layout."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def write_pair(root: Path, stem: str, label: np.ndarray, img_dir: str = "img_dir", ann_dir: str = "ann_dir",
               img_suffix: str = ".png", seg_suffix: str = ".png") -> None:
    """Write an image whose channels encode the label (so tests can check alignment) and its mask."""
    (root / img_dir / stem).parent.mkdir(parents=True, exist_ok=True)
    (root / ann_dir / stem).parent.mkdir(parents=True, exist_ok=True)
    img = np.stack([label * 10, label * 10 + 1, label * 10 + 2], -1).astype(np.uint8)
    assert cv2.imwrite(str(root / img_dir / f"{stem}{img_suffix}"), img)
    assert cv2.imwrite(str(root / ann_dir / f"{stem}{seg_suffix}"), label.astype(np.uint8))


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    """3 samples (one in a sub-folder) of 6x8 with labels 0..3."""
    for i, stem in enumerate(["a", "b", "sub/c"]):
        label = (np.arange(48).reshape(6, 8) + i) % 4
        write_pair(tmp_path, stem, label)
    return tmp_path
