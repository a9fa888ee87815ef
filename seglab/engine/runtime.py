"""Run setup helpers: config-key checks, run folders, custom imports, compile/channels_last, environment and RNG state."""
from __future__ import annotations

import difflib
import logging
import os
import os.path as osp
import random
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

import seglab
from seglab.registry import ConfigError

__all__ = ["check_keys", "collect_env", "compile_cfg", "fresh_timestamp", "get_rng_state", "import_modules",
           "set_rng_state", "to_channels_last"]


def check_keys(cfg: Mapping | None, allowed: set[str], where: str) -> None:
    """Raise a ConfigError naming ``where``, the unknown key and the closest allowed one."""
    for key in cfg or {}:
        if key not in allowed:
            hint = difflib.get_close_matches(key, sorted(allowed), n=1)
            raise ConfigError(f"{where}: unknown key '{key}'" + (f"; did you mean '{hint[0]}'?" if hint else "")
                              + f" (valid: {', '.join(sorted(allowed))})")


def fresh_timestamp(work_dir: str) -> str:
    """A ``%Y%m%d_%H%M%S`` name not yet used in ``work_dir`` (a resumed run started in the same second gets ``_1``)."""
    stamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
    name, i = stamp, 0
    while osp.exists(osp.join(work_dir, name)):
        i += 1
        name = f"{stamp}_{i}"
    os.makedirs(osp.join(work_dir, name))
    return name


def compile_cfg(value: bool | Mapping | None) -> dict | None:
    """``compile=True`` or ``compile=dict(mode=..., backend=...)`` -> torch.compile kwargs; None when off."""
    if not value:
        return None
    if value is True:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"compile must be True/False or a dict of torch.compile arguments, got {value!r}")
    check_keys(value, {"fullgraph", "dynamic", "backend", "mode", "options", "disable"}, "compile")
    return dict(value)


def to_channels_last(model: nn.Module) -> nn.Module:
    """Convert ``model`` to channels_last and make its data preprocessor output channels_last batches."""
    model = model.to(memory_format=torch.channels_last)
    pre = getattr(model, "data_preprocessor", None)
    if isinstance(pre, nn.Module):
        def _hook(module: nn.Module, args: Any, output: Any) -> Any:
            inputs = output.get("inputs") if isinstance(output, dict) else None
            if isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
                output["inputs"] = inputs.contiguous(memory_format=torch.channels_last)
            return output

        pre.register_forward_hook(_hook)
    return model


def import_modules(custom_imports: Mapping | None) -> None:
    """Import ``custom_imports=dict(imports=['my.module'], allow_failed_imports=False)`` (registers their classes)."""
    if not custom_imports:
        return
    check_keys(custom_imports, {"imports", "allow_failed_imports"}, "custom_imports")
    import importlib

    names = custom_imports.get("imports", [])
    for name in [names] if isinstance(names, str) else names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            if not custom_imports.get("allow_failed_imports", False):
                raise ConfigError(f"custom_imports: cannot import {name!r} ({exc}); check the module is on "
                                  "PYTHONPATH or set allow_failed_imports=True") from exc
            logging.getLogger("seglab").warning("custom_imports: skipped %s (%s)", name, exc)


def collect_env() -> dict[str, str]:
    """Python, seglab, PyTorch, NumPy, OpenCV versions and the CUDA devices."""
    import platform
    import sys

    import cv2

    info = {
        "sys.platform": sys.platform, "Python": sys.version.replace("\n", " "), "seglab": seglab.__version__,
        "PyTorch": torch.__version__, "NumPy": np.__version__, "OpenCV": cv2.__version__,
        "CUDA available": str(torch.cuda.is_available()), "machine": platform.machine(),
    }
    if torch.cuda.is_available():
        info["CUDA"] = str(torch.version.cuda)
        info["cuDNN"] = str(torch.backends.cudnn.version())
        for i in range(torch.cuda.device_count()):
            info[f"GPU {i}"] = torch.cuda.get_device_name(i)
    return info


def get_rng_state() -> dict:
    """Python, NumPy, torch (and CUDA) RNG states in types ``torch.load(weights_only=True)`` accepts."""
    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state()
    state = dict(
        python=list(py_state), python_version=py_version, python_gauss=py_gauss,
        numpy=[np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]),
               float(np_state[4])],
        torch=torch.get_rng_state(),
    )
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Apply a state from ``get_rng_state``."""
    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
