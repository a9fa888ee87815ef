"""Real-time model variants beyond the parity goldens (STDC2, PIDNet-M/L, DDRNet-23, BiSeNetV1 on
ResNet-18/50, MobileNetV3-small + LR-ASPP, ICNet R50, CGNet, ERFNet, PointRend R50) give MMSegmentation
1.2.2's outputs.

Fixtures in tests/data/realtime_variants come from tools/make_realtime_variant_fixtures.py (run in the
MMSeg reference env): the model dict, the input shape and a subsampled grid of the reference logits,
made with ../shared/parity/fill.py weights. Each variant is built from that dict and from seglab's
config file of the same name. PointRend's fixture (``"output": "encode_decode"``) holds the subdivision
inference result of ``encode_decode`` instead of the ``mode='tensor'`` logits.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from _model_fixtures import assert_matches_fixture, single_thread  # noqa: F401 - autouse fixture

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "realtime_variants"
NAMES = sorted(p.stem for p in DATA.glob("*.json"))


def test_variants_were_collected():
    assert len(NAMES) >= 11, f"only {NAMES} in {DATA}"


@pytest.mark.parametrize("variant", ["model_cfg", "config_file"])
@pytest.mark.parametrize("name", NAMES)
def test_variant_matches_mmseg(name: str, variant: str):
    assert_matches_fixture(DATA, name, variant)
