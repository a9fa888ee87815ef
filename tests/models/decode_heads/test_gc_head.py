"""GCHead (global context): MMSeg keys, parity (att/avg pooling, add/mul fusion), gradients."""
import importlib.util
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("name", A.names("GCHead", with_outputs=False))
def test_state_dict_matches_mmseg(name):
    A.check_keys(name)


@pytest.mark.parametrize("name", A.names("GCHead"))
def test_parity_with_mmseg(name):
    A.check_parity(name)


@pytest.mark.parametrize("name", A.names("GCHead"))
def test_gradients_reach_every_parameter(name):
    # conv_mask.bias shifts every logit of a softmax equally, so it never changes the output; with the
    # filled weights the 2-channel bottleneck of ratio 1/4 is all below zero after its ReLU, so use 1/2.
    A.check_gradients(name, no_effect=("gc_block.conv_mask.bias",), ratio=0.5)
