"""Twins (PCPVT, SVT) give MMSegmentation 1.2.2's outputs: PCPVT-S + FPN and SVT-S + UPerNet as configured,
and tiny variants at odd sizes (windows padded on one side or both, overlapping patches, no qkv bias).

Fixtures in tests/data/twins come from tools/make_twins_fixtures.py (run in the MMSeg reference env); the
config fixtures are also built from seglab's config file of the same name.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from _model_fixtures import assert_matches_fixture, single_thread  # noqa: F401 - autouse fixture

DATA = Path(__file__).resolve().parents[1] / "data" / "twins"
NAMES = sorted(p.stem for p in DATA.glob("*.json"))
CASES = [pytest.param(name, variant, id=f"{name}-{variant}") for name in NAMES for variant in ("model_cfg", "config_file")
         if variant == "model_cfg" or "config" in json.loads((DATA / f"{name}.json").read_text())]


def test_fixtures_were_collected():
    assert len(NAMES) >= 5 and sum(p.values[1] == "config_file" for p in CASES) >= 2, NAMES


@pytest.mark.parametrize("name,variant", CASES)
def test_twins_matches_mmseg(name: str, variant: str):
    assert_matches_fixture(DATA, name, variant)
