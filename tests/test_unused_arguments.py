"""Accepted-but-unused MMSeg arguments: one table, a warning once per key for a non-default value."""
from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

from seglab import unused_arguments
from seglab.registry import DATASETS, HOOKS, TRANSFORMS
from seglab.unused_arguments import UNUSED_ARGUMENTS, UnusedArgumentWarning, warn_unused

PACKAGE = Path(unused_arguments.__file__).parent


@pytest.fixture(autouse=True)
def fresh_once_memory(monkeypatch):
    monkeypatch.setattr(unused_arguments, "_warned", set())


def _record(fn) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # count our once-per-key logic, not Python's once-per-location filter
        fn()
    return [w for w in caught if issubclass(w.category, UnusedArgumentWarning)]


# (registry, config with a non-default unused value, the key named in the warning)
NON_DEFAULT = [
    (HOOKS, dict(type="LoggerHook", out_dir="s3://bucket/logs"), "out_dir"),
    (HOOKS, dict(type="CheckpointHook", backend_args=dict(backend="petrel")), "backend_args"),
    (TRANSFORMS, dict(type="LoadImageFromNDArray", color_type="grayscale"), "color_type"),
    (TRANSFORMS, dict(type="Resize", scale=(4, 4), backend="pillow"), "backend"),
    (DATASETS, dict(type="BaseSegDataset", lazy_init=True, filter_cfg=dict(min_size=32)), "filter_cfg"),
]


@pytest.mark.parametrize("reg,cfg,key", NON_DEFAULT, ids=[c["type"] for _, c, _ in NON_DEFAULT])
def test_non_default_value_warns_once_with_the_reason(reg, cfg, key):
    caught = _record(lambda: [reg.build(dict(cfg)) for _ in range(3)])
    assert len(caught) == 1, [str(w.message) for w in caught]
    msg = str(caught[0].message)
    assert f"{key}=" in msg and "has no effect in seglab" in msg
    table_key = f"{cfg['type']}.{key}" if f"{cfg['type']}.{key}" in UNUSED_ARGUMENTS else key
    assert UNUSED_ARGUMENTS[table_key].reason in msg


@pytest.mark.parametrize("reg,cfg,key", NON_DEFAULT, ids=[c["type"] for _, c, _ in NON_DEFAULT])
def test_default_value_does_not_warn(reg, cfg, key):
    cfg = {k: v for k, v in cfg.items() if k != key}  # MMSeg's default for ``key``
    assert _record(lambda: reg.build(cfg)) == []


def test_mmseg_runtime_defaults_are_harmless_and_other_values_warn():
    assert _record(lambda: warn_unused("Runner", default_scope="mmseg", log_processor=dict(by_epoch=False))) == []
    assert _record(lambda: warn_unused("Runner", default_scope=None, log_processor=None)) == []
    caught = _record(lambda: warn_unused("Runner", default_scope="mmdet", log_processor=dict(window_size=50)))
    assert sorted(str(w.message).split("=")[0] for w in caught) == ["Runner: default_scope", "Runner: log_processor"]


def test_a_key_missing_from_the_table_is_an_error():
    with pytest.raises(KeyError, match="'Resize.no_such_key' is not in UNUSED_ARGUMENTS"):
        warn_unused("Resize", no_such_key=1)


def _warn_calls() -> set[tuple[str | None, str]]:
    """(owner literal or None for ``type(self).__name__``, keyword) of every warn_unused call in seglab."""
    calls = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "warn_unused":
                owner = node.args[0].value if isinstance(node.args[0], ast.Constant) else None
                calls |= {(owner, k.arg) for k in node.keywords}
    return calls


def test_every_table_entry_is_used_by_a_component():
    calls = _warn_calls()
    assert len(calls) >= 15
    for key in UNUSED_ARGUMENTS:
        owner, _, name = key.rpartition(".")
        used = any(n == name and (not owner or o == owner) for o, n in calls)
        assert used, f"UNUSED_ARGUMENTS['{key}'] is never checked: call warn_unused where it is accepted"
