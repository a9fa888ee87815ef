"""CCHead (criss-cross attention): MMSeg keys and parity, plus a pixel-loop reference."""
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


@pytest.mark.parametrize("name", A.names("CCHead", with_outputs=False))
def test_state_dict_matches_mmseg(name):
    A.check_keys(name)


@pytest.mark.parametrize("name", A.names("CCHead"))
def test_parity_with_mmseg(name):
    A.check_parity(name)


@pytest.mark.parametrize("name", A.names("CCHead"))
def test_gradients_reach_every_parameter(name):
    A.check_gradients(name)


def _criss_cross_loops(cca, x):
    """Straight from the CCNet paper: every pixel attends to its row and its column (itself once)."""
    q, k, v = cca.query_conv(x), cca.key_conv(x), cca.value_conv(x)
    n, _, h, w = x.shape
    out = torch.zeros_like(x)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                positions = [(g, j) for g in range(h) if g != i] + [(i, u) for u in range(w)]
                energy = torch.stack([q[b, :, i, j] @ k[b, :, a, e] for a, e in positions])
                attn = energy.softmax(0)
                out[b, :, i, j] = sum(attn[t] * v[b, :, a, e] for t, (a, e) in enumerate(positions))
    return cca.gamma.scale * out + x


def test_criss_cross_attention_matches_pixel_loops():
    from seglab.models.layers import CrissCrossAttention

    torch.manual_seed(0)
    cca = CrissCrossAttention(16)
    torch.nn.init.constant_(cca.gamma.scale, 0.7)
    x = torch.randn(2, 16, 5, 6)
    with torch.no_grad():
        assert torch.allclose(cca(x), _criss_cross_loops(cca, x), atol=1e-5)


def test_recurrence_reuses_one_attention_and_validates():
    head = A.build("cc", recurrence=3)
    assert sum(k.startswith("cca.") for k in head.state_dict()) == 7  # q/k/v weight+bias, gamma.scale
    assert head([torch.randn(1, 16, 7, 5)]).shape == (1, 5, 7, 5)
    with pytest.raises(ConfigError, match="recurrence"):
        A.build("cc", recurrence=-1)
