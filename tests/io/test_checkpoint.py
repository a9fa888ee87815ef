"""Checkpoint I/O: atomic save, MMSeg files, restricted reader, safetensors, load_checkpoint messages."""

from __future__ import annotations

import os
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest
import torch
from _zoo_server import sha256_prefix
from torch import nn

from seglab.io.checkpoint import (
    UnsafeCheckpointError,
    load_checkpoint,
    load_state_dict_file,
    save_checkpoint,
    save_safetensors,
)


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 4, 3), bn=nn.BatchNorm2d(4), head=nn.Conv2d(4, 2, 1)))


def plain_state_dict(model: nn.Module, prefix: str = "") -> dict:
    return {prefix + k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture
def fake_mmengine(monkeypatch):
    """A class that pickles as mmengine.logging.history_buffer.HistoryBuffer (unknown to the reader)."""

    class HistoryBuffer:
        def __init__(self) -> None:
            self._log_history = np.array([0.5, 0.25])
            self._count_history = np.array([1, 1])
            self.max_length = np.int64(1000000)

    name = "mmengine.logging.history_buffer"
    HistoryBuffer.__module__ = name
    HistoryBuffer.__qualname__ = "HistoryBuffer"
    for mod in ("mmengine", "mmengine.logging", name):
        monkeypatch.setitem(sys.modules, mod, types.ModuleType(mod))
    sys.modules[name].HistoryBuffer = HistoryBuffer
    return HistoryBuffer


class Evil:
    """Pickles as a call to os.system; loading must never run it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_save_is_atomic(tmp_path):
    path = tmp_path / "ckpt.pth"
    save_checkpoint({"state_dict": {"w": torch.ones(2)}}, path)
    with pytest.raises((pickle.PicklingError, AttributeError)):
        save_checkpoint({"state_dict": {"w": torch.zeros(2)}, "bad": lambda: None}, path)  # unpicklable
    assert os.listdir(tmp_path) == ["ckpt.pth"]  # no temp file left behind
    assert torch.equal(load_state_dict_file(path)["state_dict"]["w"], torch.ones(2))  # old file intact
    save_checkpoint({"x": 1}, tmp_path / "new" / "dir" / "c.pth")  # parent folders are created
    assert load_state_dict_file(tmp_path / "new" / "dir" / "c.pth") == {"x": 1}


def test_mmseg_0x_file_loads_strict(tmp_path):
    src = tiny_model()
    path = tmp_path / "mmseg.pth"
    meta = dict(CLASSES=("road", "sky"), PALETTE=[[128, 64, 128], [70, 130, 180]], mmseg_version="0.30.0")
    torch.save(dict(meta=meta, state_dict=plain_state_dict(src, "module.")), path)
    dst = nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 4, 3), bn=nn.BatchNorm2d(4), head=nn.Conv2d(4, 2, 1)))
    out = load_checkpoint(dst, path, strict=True)  # 'module.' stripped by the default revise_keys
    assert out["meta"]["CLASSES"] == ("road", "sky")
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k


def test_mmengine_objects_are_skipped_safely(tmp_path, fake_mmengine):
    src = tiny_model()
    path = tmp_path / "mmseg1x.pth"
    meta = dict(
        dataset_meta=dict(classes=("a", "b"), palette=[[1, 2, 3], [4, 5, 6]]),
        seed=np.int64(7),
        iter=np.int32(40000),
        lr=np.float64(0.01),
        buf=fake_mmengine(),
    )
    torch.save(
        dict(meta=meta, state_dict=src.state_dict(), message_hub=dict(log=fake_mmengine()), optimizer=dict(state={})),
        path,
    )
    with pytest.raises(pickle.UnpicklingError):  # precondition: torch's safe loader refuses this file
        torch.load(path, weights_only=True)
    out = load_state_dict_file(path)
    assert set(out) == {"state_dict", "meta"}
    assert out["meta"]["dataset_meta"] == dict(classes=("a", "b"), palette=[[1, 2, 3], [4, 5, 6]])
    assert out["meta"]["seed"] == 7 and out["meta"]["iter"] == 40000 and out["meta"]["lr"] == 0.01
    assert out["meta"]["buf"] is None  # unknown object replaced, never constructed
    for k, v in src.state_dict().items():
        assert out["state_dict"][k].dtype == v.dtype and torch.equal(out["state_dict"][k], v), k
    load_checkpoint(tiny_model(), path, strict=True)


def test_parameters_views_and_dtypes_survive_restricted_reader(tmp_path, fake_mmengine):
    base = torch.arange(12, dtype=torch.float64).reshape(3, 4)
    sd = {
        "p": nn.Parameter(torch.randn(2, 3)),
        "view": base[:, 1::2],
        "t": base.t(),
        "half": torch.randn(3).half(),
        "long": torch.arange(5),
        "bool": torch.tensor([True, False]),
        "empty": torch.zeros(0, 3),
    }
    path = tmp_path / "v.pth"
    torch.save(dict(state_dict=sd, meta=dict(obj=fake_mmengine())), path)
    out = load_state_dict_file(path)["state_dict"]
    for k, v in sd.items():
        assert out[k].dtype == v.dtype and out[k].shape == v.shape and torch.equal(out[k], v.detach()), k


def test_code_in_weights_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save(dict(meta={}, state_dict={"w": Evil(str(marker))}), path)
    with pytest.raises(UnsafeCheckpointError, match=r"state_dict\.w: posix\.system|state_dict\.w: nt\.system"):
        load_state_dict_file(path)
    torch.save(Evil(str(marker)), tmp_path / "evil2.pth")
    with pytest.raises(UnsafeCheckpointError, match="not a dict"):
        load_checkpoint(tiny_model(), tmp_path / "evil2.pth")
    # Inside meta the call is replaced by None; the weights still load.
    torch.save(dict(meta={"x": Evil(str(marker)), "ok": 1}, state_dict={"w": torch.ones(1)}), tmp_path / "m.pth")
    out = load_state_dict_file(tmp_path / "m.pth")
    assert out["meta"] == {"x": None, "ok": 1}
    assert not marker.exists()


def test_safetensors_round_trip(tmp_path):
    src = tiny_model()
    path = tmp_path / "w.safetensors"
    save_safetensors(src.state_dict(), path, meta=dict(dataset_meta=dict(classes=["a", "b"])))
    out = load_state_dict_file(path)
    assert out["meta"] == dict(dataset_meta=dict(classes=["a", "b"]))
    assert out["state_dict"].keys() == src.state_dict().keys()
    dst = nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 4, 3), bn=nn.BatchNorm2d(4), head=nn.Conv2d(4, 2, 1)))
    load_checkpoint(dst, path, strict=True)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k


def test_mismatch_message_lists_every_problem(tmp_path):
    sd = plain_state_dict(tiny_model())
    del sd["bn.running_mean"]
    sd["extra.weight"] = torch.zeros(1)
    sd["head.weight"] = torch.zeros(5, 4, 1, 1)
    path = tmp_path / "bad.pth"
    torch.save({"model": sd}, path)  # 'model' key is unwrapped too
    with pytest.raises(RuntimeError) as err:
        load_checkpoint(tiny_model(), path, strict=True)
    msg = str(err.value)
    assert "missing keys in checkpoint (1): bn.running_mean" in msg
    assert "unexpected keys in checkpoint (1): extra.weight" in msg
    assert "head.weight: checkpoint (5, 4, 1, 1) vs model (2, 4, 1, 1)" in msg
    model = tiny_model()
    with pytest.warns(UserWarning, match="bn.running_mean"):
        load_checkpoint(model, path, strict=False)
    assert torch.equal(model.conv.weight, sd["conv.weight"])  # the matching keys were loaded


def test_url_downloads_once_into_cache(tmp_path, zoo_server):
    payload = tmp_path / "payload.pth"
    torch.save({"state_dict": plain_state_dict(tiny_model())}, payload)
    name = f"pspnet_r50_20200605_003338-{sha256_prefix(payload.read_bytes())}.pth"
    url = zoo_server.add(f"/zoo/{name}", payload.read_bytes())
    for _ in range(2):
        load_checkpoint(tiny_model(), url, strict=True)
    assert zoo_server.hits == [f"/zoo/{name}"]  # downloaded once, hash prefix checked (see test_download.py)
    assert (zoo_server.cache / name).is_file()
    with pytest.raises(ValueError, match="scheme"):
        load_checkpoint(tiny_model(), "s3://bucket/x.pth")
    with pytest.raises(FileNotFoundError):
        load_state_dict_file(tmp_path / "missing.pth")


def test_engine_checkpoint_still_exports_the_same_names():
    from seglab.engine import checkpoint as engine_checkpoint
    from seglab.io import checkpoint as io_checkpoint

    for name in engine_checkpoint.__all__:
        assert getattr(engine_checkpoint, name) is getattr(io_checkpoint, name), name
