"""EMAHead (EM attention): MMSeg keys incl. the bases buffer, parity, gradients, base update."""
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

import seglab.models  # noqa: F401 - registration


def _cases():
    """tests/data/heads/attention/attention_cases.py, loaded once (tests/ is not a package)."""
    if "attention_cases" not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "data" / "heads" / "attention" / "attention_cases.py"
        spec = importlib.util.spec_from_file_location("attention_cases", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["attention_cases"] = module
        spec.loader.exec_module(module)
    return sys.modules["attention_cases"]


A = _cases()


@pytest.mark.parametrize("name", A.names("EMAHead", with_outputs=False))
def test_state_dict_matches_mmseg(name):
    A.check_keys(name)


@pytest.mark.parametrize("name", A.names("EMAHead"))
def test_parity_with_mmseg(name):
    A.check_parity(name)


@pytest.mark.parametrize("name", A.names("EMAHead"))
def test_gradients_reach_every_parameter(name):
    A.check_gradients(name, frozen=("ema_mid_conv.conv.weight", "ema_mid_conv.conv.bias"))


def test_bases_buffer_key_and_momentum_update():
    head = A.filled("ema")
    assert head.state_dict()["ema_module.bases"].shape == (1, 12, 6)
    assert "ema_module.bases" not in dict(head.named_parameters())
    before = head.ema_module.bases.clone()
    with torch.no_grad():
        head(A.inputs("ema"))  # eval: bases unchanged
    assert torch.equal(head.ema_module.bases, before)
    head.train()
    with torch.no_grad():
        head(A.inputs("ema"))
    after = head.ema_module.bases
    assert not torch.equal(after, before)
    # new = 0.9 * old + 0.1 * unit-norm batch bases, so the update stays within 0.1 of a unit column.
    assert float((after - 0.9 * before).norm(dim=1).max()) == pytest.approx(0.1, abs=1e-5)
