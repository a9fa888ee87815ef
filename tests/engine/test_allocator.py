"""retain_freed_memory: glibc keeps a freed 64 MiB tensor in the heap; the env var, the config key and init_model."""
from __future__ import annotations

import ctypes
import json
import os
import platform
import subprocess
import sys

import pytest
from _engine_tiny import REPO, make_data, write_config
from _optional import skip_reason

from seglab.apis import init_model
from seglab.config import Config
from seglab.engine import Runner, allocator
from seglab.registry import ConfigError


def _has_mallinfo2() -> bool:
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")  # glibc >= 2.33
    except OSError:
        return False


# Run in a fresh process: applying the setting changes malloc for the whole process, and the
# pytest process should keep glibc's defaults. Prints mallinfo2's heap bytes (all of it, used, free)
# and mmap'ed bytes around a 64 MiB tensor's allocation and free, and a 48 MiB one's allocation after it.
_PROBE = """
import ctypes, json
import torch
from seglab.engine.allocator import retain_freed_memory

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info

def info():
    i = libc.mallinfo2()
    return dict(heap=i.arena, used=i.uordblks, free=i.fordblks, mmapped=i.hblkhd)

applied = retain_freed_memory()
before = info()
x = torch.empty(64 << 20, dtype=torch.uint8)
during = info()
del x
after = info()
# Smaller than the freed block: the small allocations made in between may take a few bytes of it, and
# the tensor allocator's alignment adds a few more to a same-size request.
y = torch.empty(48 << 20, dtype=torch.uint8)
again = info()
print(json.dumps(dict(applied=applied, before=before, during=during, after=after, again=again)))
"""
MIB = 1 << 20
pytestmark = pytest.mark.filterwarnings("ignore:init_model without a checkpoint has no class names")


def _probe(retain: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != allocator.ENV_VAR}
    if retain is not None:
        env[allocator.ENV_VAR] = retain
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, cwd=REPO, capture_output=True, text=True,
                         timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_freed_large_tensor_stays_in_the_heap():
    if not _has_mallinfo2():
        skip_reason("no-mallinfo2")
    on = _probe(None)
    assert on["applied"]
    assert on["during"]["mmapped"] - on["before"]["mmapped"] < MIB  # not mmap'ed ...
    assert on["during"]["used"] - on["before"]["used"] >= 64 * MIB  # ... but carved from the heap
    assert on["after"]["heap"] == on["during"]["heap"]  # and after the free the heap keeps it,
    assert on["after"]["free"] >= 64 * MIB  # free for the next tensor,
    assert on["again"]["heap"] == on["during"]["heap"] and on["again"]["mmapped"] == on["during"]["mmapped"]  # reused

    off = _probe("0")
    assert not off["applied"]
    assert off["during"]["mmapped"] - off["before"]["mmapped"] >= 64 * MIB  # glibc's default: a fresh mmap
    assert off["after"]["mmapped"] - off["before"]["mmapped"] < MIB  # given back to the OS on free
    assert off["during"]["used"] - off["before"]["used"] < MIB and off["after"]["heap"] - off["before"]["heap"] < MIB


class _NoLibc:
    """Stands in for ctypes.CDLL: the paths that must not reach mallopt fail the test if they load libc."""

    def __init__(self, *args, **kwargs):
        raise AssertionError("libc was loaded")


@pytest.mark.parametrize("value", ["0", "false", "off"])
def test_env_var_off_does_nothing(monkeypatch, value):
    monkeypatch.setattr(allocator, "_active", False)
    monkeypatch.setenv(allocator.ENV_VAR, value)
    monkeypatch.setattr(ctypes, "CDLL", _NoLibc)
    assert allocator.retain_freed_memory() is False
    assert allocator._active is False


@pytest.mark.parametrize("libc", [("", ""), ("musl", "1.2"), ("msvcrt", "")])
def test_not_glibc_returns_false(monkeypatch, libc):
    monkeypatch.setattr(allocator, "_active", False)
    monkeypatch.delenv(allocator.ENV_VAR, raising=False)
    monkeypatch.setattr(platform, "libc_ver", lambda *a, **k: libc)
    monkeypatch.setattr(ctypes, "CDLL", _NoLibc)
    assert allocator.retain_freed_memory() is False


def test_applied_once(monkeypatch):
    """A second call does not call mallopt again; it reports the setting as active."""
    monkeypatch.setattr(allocator, "_active", True)
    monkeypatch.setattr(ctypes, "CDLL", _NoLibc)
    assert allocator.retain_freed_memory() is True


@pytest.fixture()
def calls(monkeypatch):
    seen: list[int] = []
    monkeypatch.setattr(allocator, "retain_freed_memory", lambda: seen.append(1) or True)
    return seen


_TINY = dict(model=dict(
    type="EncoderDecoder",
    backbone=dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=8, out_indices=(3,)),
    decode_head=dict(type="FCNHead", in_channels=64, in_index=0, channels=8, num_convs=1, concat_input=False,
                     num_classes=3),
    test_cfg=dict(mode="whole")))


@pytest.mark.parametrize("kwargs, config_value, expected", [
    (dict(), None, 1),  # default: on
    (dict(retain_heap=False), None, 0),
    (dict(), False, 0),  # the config key
    (dict(retain_heap=True), False, 1),  # the argument wins
    (dict(device="meta", fuse_conv_bn=False, winograd_conv=False), None, 0),  # not a CPU device
])
def test_init_model_applies_it_on_the_cpu(calls, kwargs, config_value, expected):
    cfg = dict(_TINY)
    if config_value is not None:
        cfg["retain_heap"] = config_value
    init_model(cfg, **kwargs)
    assert len(calls) == expected


def test_init_model_retain_heap_must_be_a_bool(calls):
    with pytest.raises(ConfigError, match="retain_heap must be True or False"):
        init_model(dict(model=_TINY["model"], retain_heap="yes"))
    assert not calls


@pytest.mark.parametrize("value", [True, False])
def test_retain_heap_through_seglab_train(tmp_path, calls, value):
    """`seglab train CFG --cfg-options retain_heap=...` decides whether a CPU run keeps freed memory."""
    from seglab import cli

    data = make_data(str(tmp_path / "data"), n_train=4, n_val=2)
    path = write_config(str(tmp_path / "c.py"), data, str(tmp_path / "w"), iters=2, batch=2)
    assert cli.main(["train", path, "--device", "cpu", "--cfg-options", f"retain_heap={value}"]) == 0
    assert len(calls) == int(value)


def test_runner_retain_heap_must_be_a_bool(tmp_path, calls):
    data = make_data(str(tmp_path / "data"), n_train=4, n_val=2)
    cfg = Config.fromfile(write_config(str(tmp_path / "c.py"), data, str(tmp_path / "w"), iters=2, batch=2))
    cfg.retain_heap = 1
    with pytest.raises(ConfigError, match="retain_heap must be True or False"):
        Runner.from_cfg(cfg, device="cpu")
    assert not calls
