"""EmptyCacheHook: which hook points release the CUDA cache, and nothing happens without CUDA."""
from __future__ import annotations

import pytest
import torch

from seglab.engine.hooks import EmptyCacheHook
from seglab.registry import HOOKS

POINTS = {
    "before_epoch": ["before_train_epoch", "before_val_epoch", "before_test_epoch"],
    "after_epoch": ["after_train_epoch", "after_val_epoch", "after_test_epoch"],
    "after_iter": ["after_train_iter", "after_val_iter", "after_test_iter"],
}


def calls(monkeypatch: pytest.MonkeyPatch, hook: EmptyCacheHook, cuda: bool) -> dict[str, int]:
    """How many times each group of hook points emptied the cache."""
    counter = {"n": 0}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: counter.__setitem__("n", counter["n"] + 1))
    out = {}
    for group, names in POINTS.items():
        before = counter["n"]
        for name in names:
            kwargs = {"batch_idx": 0} if name.endswith("_iter") else {}
            getattr(hook, name)(None, **kwargs)
        out[group] = counter["n"] - before
    return out


def test_defaults_empty_after_epochs(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = HOOKS.build(dict(type="EmptyCacheHook"))
    assert calls(monkeypatch, hook, cuda=True) == {"before_epoch": 0, "after_epoch": 3, "after_iter": 0}


def test_all_points(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = EmptyCacheHook(before_epoch=True, after_epoch=False, after_iter=True)
    assert calls(monkeypatch, hook, cuda=True) == {"before_epoch": 3, "after_epoch": 0, "after_iter": 3}


def test_no_cuda_no_call(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = EmptyCacheHook(before_epoch=True, after_epoch=True, after_iter=True)
    assert calls(monkeypatch, hook, cuda=False) == {"before_epoch": 0, "after_epoch": 0, "after_iter": 0}
