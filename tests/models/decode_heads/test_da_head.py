"""DAHead (PAM + CAM): MMSeg keys, parity of its three outputs, loss keys, predict."""
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


@pytest.mark.parametrize("name", A.names("DAHead", with_outputs=False))
def test_state_dict_matches_mmseg(name):
    A.check_keys(name)


@pytest.mark.parametrize("name", A.names("DAHead"))
def test_parity_with_mmseg(name):
    A.check_parity(name)


@pytest.mark.parametrize("name", A.names("DAHead"))
def test_gradients_reach_every_parameter(name):
    A.check_gradients(name)


def _samples(n, h, w, num_classes=5):
    from seglab.structures import SegDataSample

    g = torch.Generator().manual_seed(0)
    return [SegDataSample(gt_sem_seg=torch.randint(0, num_classes, (1, h, w), generator=g)) for _ in range(n)]


def test_loss_keys_and_values_per_branch():
    head = A.filled("da")
    feats = A.inputs("da")
    samples = _samples(1, 32, 32)
    losses = head.loss(feats, samples)
    assert sorted(losses) == sorted(f"{p}.{k}" for p in ("pam_cam", "pam", "cam") for k in ("loss_ce", "acc_seg"))
    # Each prefix is the base loss of the matching output (eval mode: dropout off).
    from seglab.models.decode_heads.decode_head import BaseDecodeHead

    outs = head(feats)
    for prefix, out in zip(("pam_cam", "pam", "cam"), outs, strict=True):
        base = BaseDecodeHead.loss_by_feat(head, out, samples)
        assert torch.allclose(losses[f"{prefix}.loss_ce"], base["loss_ce"])


def test_predict_uses_pam_cam():
    head = A.filled("da")
    feats = A.inputs("da")
    pred = head.predict(feats, [dict(img_shape=(32, 32), pad_shape=(32, 32))])
    expected = torch.nn.functional.interpolate(head(feats)[0], size=(32, 32), mode="bilinear", align_corners=False)
    assert pred.shape == (1, 5, 32, 32) and torch.allclose(pred, expected)
