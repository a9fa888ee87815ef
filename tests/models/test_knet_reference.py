"""K-Net (IterativeDecodeHead + KernelUpdateHead) gives MMSegmentation 1.2.2's outputs.

Fixtures in tests/data/knet come from tools/make_knet_fixtures.py (run in the MMSeg reference env):
K-Net-S3 on ResNet-50 with FCN and UPerNet kernel generate heads, ../shared/parity/fill.py weights, eval
logits of a 64x64 input. Each is built from the recorded model dict and from seglab's config file.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from _model_fixtures import assert_matches_fixture, single_thread  # noqa: F401 - autouse fixture

DATA = Path(__file__).resolve().parents[1] / "data" / "knet"
NAMES = sorted(p.stem for p in DATA.glob("*.json"))


def test_fixtures_were_collected():
    assert {n.split("_")[2] for n in NAMES} == {"fcn", "upernet"}, NAMES


@pytest.mark.parametrize("variant", ["model_cfg", "config_file"])
@pytest.mark.parametrize("name", NAMES)
def test_knet_matches_mmseg(name: str, variant: str):
    assert_matches_fixture(DATA, name, variant)
