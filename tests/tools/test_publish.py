"""seglab publish: weights and meta only, sha256 suffix, loadable with weights_only=True."""
from __future__ import annotations

import hashlib
import os

import torch

from seglab.cli import main


def test_publish_strips_training_state_and_names_by_hash(tmp_path, capsys):
    weights = {"conv.weight": torch.arange(6.0).reshape(2, 3), "conv.bias": torch.ones(2)}
    src = tmp_path / "iter_10.pth"
    torch.save(dict(meta=dict(iter=10, dataset_meta=dict(classes=["a", "b"])), state_dict=weights,
                    optimizer=dict(state={}, param_groups=[dict(lr=0.1)]), param_schedulers=[dict(last_step=10)],
                    message_hub=dict(log_scalars={})), src)
    assert main(["publish", str(src), str(tmp_path / "release" / "fcn_tiny.pth")]) == 0
    files = os.listdir(tmp_path / "release")
    assert len(files) == 1  # no temporary file left behind
    name = files[0]
    digest = hashlib.sha256((tmp_path / "release" / name).read_bytes()).hexdigest()
    assert name == f"fcn_tiny-{digest[:8]}.pth"
    published = torch.load(tmp_path / "release" / name, weights_only=True)
    assert sorted(published) == ["meta", "state_dict"]
    assert published["meta"]["dataset_meta"]["classes"] == ["a", "b"]
    assert all(torch.equal(published["state_dict"][k], v) for k, v in weights.items())
    assert name in capsys.readouterr().out
