"""NLHead (non-local): MMSeg keys, parity for all four modes, gradients, bad mode."""
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

import seglab.models  # noqa: F401 - registration
from seglab.registry import ConfigError


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


@pytest.mark.parametrize("name", A.names("NLHead", with_outputs=False))
def test_state_dict_matches_mmseg(name):
    A.check_keys(name)


@pytest.mark.parametrize("name", A.names("NLHead"))
def test_parity_with_mmseg(name):
    A.check_parity(name)


@pytest.mark.parametrize("name", A.names("NLHead"))
def test_gradients_reach_every_parameter(name):
    A.check_gradients(name)


def test_bad_mode_names_the_choices():
    with pytest.raises(ConfigError, match="embedded_gaussian"):
        A.build("nl_embedded_gaussian", mode="cosine")


def test_fresh_block_is_identity():
    """conv_out starts at zero (its BN scale), so a new non-local block returns its input."""
    from seglab.models.layers import NonLocal2d

    block = NonLocal2d(8, norm_cfg=dict(type="BN")).eval()
    x = torch.randn(2, 8, 5, 7)
    assert torch.equal(block(x), x)
