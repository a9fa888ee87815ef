"""PSAHead (point-wise spatial attention): MMSeg keys, a pixel-loop reference of the mask op."""
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


@pytest.mark.parametrize("name", A.names("PSAHead", with_outputs=False))
def test_state_dict_matches_mmseg(name):
    A.check_keys(name)


def _psa_mask_loops(mask, psa_type, mask_size):
    """MMCV's PSAMask, pixel by pixel: position (h, w) places its window entry (i, j) at the map
    position (h + i - (mh - 1) // 2, w + j - (mw - 1) // 2) when that lies on the map."""
    mh, mw = mask_size
    n, _, fh, fw = mask.shape
    out = torch.zeros(n, fh * fw, fh, fw)
    for b in range(n):
        for h in range(fh):
            for w in range(fw):
                for i in range(mh):
                    for j in range(mw):
                        th, tw = h + i - (mh - 1) // 2, w + j - (mw - 1) // 2
                        if 0 <= th < fh and 0 <= tw < fw:
                            value = mask[b, i * mw + j, h, w]
                            if psa_type == "collect":
                                out[b, th * fw + tw, h, w] = value
                            else:
                                out[b, h * fw + w, th, tw] = value
    return out


@pytest.mark.parametrize("psa_type", ["collect", "distribute"])
@pytest.mark.parametrize("mask_size,fmap", [((5, 5), (4, 6)), ((9, 7), (5, 4)), ((4, 2), (3, 5)), ((3, 3), (6, 6))])
def test_psa_mask_matches_pixel_loops(psa_type, mask_size, fmap):
    from seglab.models.layers import PSAMask

    torch.manual_seed(0)
    mask = torch.randn(2, mask_size[0] * mask_size[1], *fmap)
    assert torch.equal(PSAMask(psa_type, mask_size)(mask), _psa_mask_loops(mask, psa_type, mask_size))


def test_psa_mask_gradient_is_the_scatter_back():
    from seglab.models.layers import psa_mask

    mask = torch.randn(1, 9, 4, 4, requires_grad=True)
    weight = torch.randn(1, 16, 4, 4)
    (psa_mask(mask, "collect", (3, 3)) * weight).sum().backward()
    expected = torch.zeros(1, 9, 4, 4)
    for h in range(4):
        for w in range(4):
            for i in range(3):
                for j in range(3):
                    th, tw = h + i - 1, w + j - 1
                    if 0 <= th < 4 and 0 <= tw < 4:
                        expected[0, i * 3 + j, h, w] = weight[0, th * 4 + tw, h, w]
    assert torch.allclose(mask.grad, expected)


@pytest.mark.parametrize("name", ["psa_bi", "psa_collect"])
def test_head_with_pixel_loop_mask_gives_same_logits(name, monkeypatch):
    psa_module = sys.modules["seglab.models.layers.psa_mask"]  # the package re-exports a same-named function
    head = A.filled(name)
    x = [torch.randn(1, 16, 12, 10)]
    with torch.no_grad():
        fast = head(x)
        monkeypatch.setattr(psa_module, "psa_mask", _psa_mask_loops)
        slow = head(x)
    assert fast.shape == (1, 5, 12, 10)
    assert torch.allclose(fast, slow, atol=1e-5)


def test_compact_attention_transposes_and_gradients_reach_every_parameter():
    head = A.filled("psa_distribute_compact").train()
    torch.manual_seed(0)
    out = head([torch.randn(2, 16, 16, 16)])  # shrunk to 8x8 = 64 = mask_h * mask_w positions
    assert out.shape == (2, 5, 16, 16)
    (out * torch.randn_like(out)).sum().backward()
    dead = [n for n, p in head.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead


def test_bad_psa_type():
    with pytest.raises(ConfigError, match="psa_type"):
        A.build("psa_bi", psa_type="both")
