"""Guard: the shared reference data must be present, so tests that use it can never pass vacuously.

Never skipped. Point ``SEGLAB_SHARED_DIR`` at a missing folder to see it fail.
"""
from __future__ import annotations

from _shared import CAMVID, FILL, GOLDENS, SHARED


def test_parity_goldens_are_present():
    assert GOLDENS.is_dir(), f"parity goldens not found at {GOLDENS} (SEGLAB_SHARED_DIR={SHARED})"
    assert FILL.is_file(), f"parity weight filler not found at {FILL}"
    names = [p.name for p in GOLDENS.glob("*.keys.json")]
    assert len(names) >= 19, f"only {len(names)} goldens in {GOLDENS}"
    assert all((GOLDENS / n.replace(".keys.json", ".npz")).is_file() for n in names)


def test_camvid_is_present():
    for split in ("train", "trainannot", "val", "valannot"):
        folder = CAMVID / split
        assert folder.is_dir() and any(folder.iterdir()), f"CamVid split '{split}' not found at {folder}"
