"""Where the suite finds ../shared (CamVid, parity goldens): one place, overridable for checks.

``SEGLAB_SHARED_DIR`` replaces the default ``<repo>/../shared``; tests/test_shared_guard.py fails
(never skips) when the folders below are missing, and tests needing them call ``require``.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SEGLAB_SHARED_DIR") or REPO.parent / "shared").resolve()
PARITY = SHARED / "parity"
GOLDENS = PARITY / "goldens"
FILL = PARITY / "fill.py"
CAMVID = SHARED / "data" / "camvid"


def require(path: Path) -> Path:
    """Return ``path``; fail the calling test (not skip) when it does not exist."""
    if not path.exists():
        pytest.fail(f"{path} is missing: the suite needs ../shared (or SEGLAB_SHARED_DIR); "
                    "see tests/test_shared_guard.py")
    return path
