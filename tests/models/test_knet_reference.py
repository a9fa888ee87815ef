"""K-Net (IterativeDecodeHead + KernelUpdateHead) gives MMSegmentation 1.2.2's outputs.

Fixtures in tests/data/knet come from tools/make_knet_fixtures.py (run in the MMSeg reference env):
K-Net-S3 on ResNet-50 with FCN and UPerNet kernel generate heads, ../shared/parity/fill.py weights, eval
logits of a 64x64 input. Each is built from the recorded model dict and from seglab's config file.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _reference_fixtures import check_fixture

DATA = Path(__file__).resolve().parents[1] / "data" / "knet"
NAMES = sorted(p.stem for p in DATA.glob("*.json"))


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One intra-op thread: on a loaded 2-core machine OpenMP workers waiting for each other dominate."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_fixtures_were_collected():
    assert {n.split("_")[2] for n in NAMES} == {"fcn", "upernet"}, NAMES


@pytest.mark.parametrize("variant", ["model_cfg", "config_file"])
@pytest.mark.parametrize("name", NAMES)
def test_knet_matches_mmseg(name: str, variant: str):
    check_fixture(DATA, name, variant)
