"""EncHead (context encoding): MMSeg keys, parity, gradients, SE loss and its key."""
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


@pytest.mark.parametrize("name", A.names("EncHead", with_outputs=False))
def test_state_dict_matches_mmseg(name):
    A.check_keys(name)


@pytest.mark.parametrize("name", A.names("EncHead"))
def test_parity_with_mmseg(name):
    A.check_parity(name)


@pytest.mark.parametrize("name", A.names("EncHead"))
def test_gradients_reach_every_parameter(name):
    A.check_gradients(name)


def test_onehot_labels_skip_ignored_values():
    from seglab.models.decode_heads import EncHead

    label = torch.tensor([[[0, 0, 3], [255, 3, 3]], [[4, 4, 4], [4, 255, 1]]])
    onehot = EncHead._convert_to_onehot_labels(label.unsqueeze(1), 5)
    assert onehot.tolist() == [[1, 0, 0, 1, 0], [0, 1, 0, 0, 1]]


def test_se_loss_key_and_value():
    from seglab.structures import SegDataSample

    head = A.filled("enc")
    feats = A.inputs("enc")
    label = torch.full((1, 32, 32), 255)
    label[0, :4, :4], label[0, 10:, 10:] = 1, 3
    losses = head.loss(feats, [SegDataSample(gt_sem_seg=label)])
    assert set(losses) == {"loss_ce", "acc_seg", "loss_se"}
    _, se_logits = head(feats)
    target = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0]])
    expected = 0.2 * torch.nn.functional.binary_cross_entropy_with_logits(se_logits, target)
    assert torch.allclose(losses["loss_se"], expected)


def test_predict_ignores_se_branch_and_no_se_head():
    head = A.filled("enc")
    feats = A.inputs("enc")
    pred = head.predict(feats, [dict(img_shape=(16, 16), pad_shape=(16, 16))])
    assert torch.allclose(pred, head(feats)[0])
    no_se = A.build("enc_no_se")
    assert not hasattr(no_se, "se_layer") and not hasattr(no_se, "loss_se_decode")
