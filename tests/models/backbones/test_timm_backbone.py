"""TIMMBackbone: a clear error when the optional timm extra is missing or broken; with timm installed, a
timm ResNet-18 as a feature backbone (channels, strides, MMSeg's ``timm_model.`` keys, checkpoint_path)."""
from __future__ import annotations

import importlib
import sys

import pytest
import torch
from _optional import require

from seglab.models.backbones import timm_backbone
from seglab.registry import MODELS


def test_missing_timm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # an import of timm now raises ImportError
    with pytest.raises(ImportError, match=r"TIMMBackbone needs timm: pip install 'seglab\[timm\]'"):
        MODELS.build(dict(type="TIMMBackbone", model_name="resnet18"))


def test_timm_that_fails_to_import_names_the_extra_and_the_cause(monkeypatch):
    def broken(name: str):  # e.g. a torchvision wheel built for another torch
        raise RuntimeError("operator torchvision::nms does not exist")

    monkeypatch.setattr(timm_backbone.importlib, "import_module", broken)
    with pytest.raises(ImportError, match=r"seglab\[timm\].*RuntimeError: operator torchvision::nms"):
        timm_backbone.import_timm()
    assert timm_backbone.importlib is importlib


def test_timm_resnet18_features(tmp_path):
    require("timm")
    torch.manual_seed(0)
    model = MODELS.build(dict(type="TIMMBackbone", model_name="resnet18", out_indices=(1, 2, 3, 4)))
    assert model.out_channels == [64, 128, 256, 512] and model.out_strides == [4, 8, 16, 32]
    keys = list(model.state_dict())
    assert all(k.startswith("timm_model.") for k in keys) and not any(".fc." in k for k in keys)
    outs = model.eval()(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 16, 24), (1, 128, 8, 12), (1, 256, 4, 6), (1, 512, 2, 3)]
    torch.save(model.timm_model.state_dict(), tmp_path / "r18.pth")
    loaded = MODELS.build(dict(type="TIMMBackbone", model_name="resnet18", out_indices=(1, 2, 3, 4),
                               checkpoint_path=str(tmp_path / "r18.pth"))).eval()
    for a, b in zip(loaded(torch.ones(1, 3, 32, 32)), model(torch.ones(1, 3, 32, 32))):
        torch.testing.assert_close(a, b)
