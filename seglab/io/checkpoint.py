"""Checkpoint I/O: atomic save, safe load (.pth / .safetensors, MMSeg files) and loading into a model.

A checkpoint source is a local path, a ``file://`` or ``http(s)://`` URL (downloaded once into the
cache, see ``download.py``) or a named checkpoint such as ``open-mmlab://resnet50_v1c`` (``zoo.py``).
"""

from __future__ import annotations

import json
import logging
import os
import os.path as osp
import pickle
import re
import tempfile
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ._safe_pickle import find_opaque, restricted_load, scrub
from .download import download_checkpoint, url_to_path
from .zoo import is_zoo_name, resolve_zoo_name, zoo_schemes

__all__ = [
    "LoadReport",
    "UnsafeCheckpointError",
    "download_checkpoint",
    "get_state_dict",
    "load_checkpoint",
    "load_state_dict_file",
    "load_weights",
    "read_checkpoint",
    "resolve_checkpoint",
    "save_checkpoint",
    "save_safetensors",
]

_log = logging.getLogger("seglab")
_WEIGHT_KEYS = ("state_dict", "model", "state_dict_ema")


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The parts of a checkpoint we need can only be rebuilt by running code named in the file."""


def _atomic_write(path: str | os.PathLike, write: Callable[[Any], None]) -> None:
    """Call ``write(file)`` on a temp file next to ``path``, fsync it, then rename it over ``path``."""
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{osp.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX and Windows: readers see the old or the new file
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable; not possible on every platform
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def save_checkpoint(checkpoint: dict, path: str | os.PathLike) -> None:
    """Save ``checkpoint`` (e.g. ``{'meta':..., 'state_dict':..., 'optimizer':...}``) with torch.save, atomically."""
    _atomic_write(path, lambda f: torch.save(checkpoint, f))


def _safetensors(extra_name: str = "safetensors") -> Any:
    try:
        import safetensors.torch as st
    except ImportError as exc:
        raise ImportError(
            f"reading/writing .safetensors files needs the optional package: pip install 'seglab[{extra_name}]'"
        ) from exc
    return st


def save_safetensors(state_dict: dict[str, torch.Tensor], path: str | os.PathLike, meta: dict | None = None) -> None:
    """Write a flat ``state_dict`` (and JSON-serialisable ``meta``) to a .safetensors file, atomically."""
    st = _safetensors()
    bad = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise TypeError(f"save_safetensors: non-tensor entries {bad[:5]} cannot be stored in safetensors")
    # safetensors refuses shared storage; an independent contiguous copy per tensor is always valid.
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}
    metadata = {"seglab_meta": json.dumps(meta or {})}
    _atomic_write(path, lambda f: f.write(st.save(tensors, metadata=metadata)))


def _move(obj: Any, map_location: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(map_location)
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, OrderedDict) else {}
        out.update({k: _move(v, map_location) for k, v in obj.items()})
        if hasattr(obj, "_metadata"):
            out._metadata = obj._metadata  # type: ignore[attr-defined]
        return out
    return obj


def _load_restricted(path: str, reason: Exception) -> dict:
    """Read only the weights and ``meta`` of a .pth whose other parts weights_only refuses."""
    try:
        obj = restricted_load(path)
    except UnsafeCheckpointError:
        raise
    except Exception as exc:
        raise pickle.UnpicklingError(
            f"{path}: torch.load(weights_only=True) failed ({str(reason).strip().splitlines()[0][:200]}) "
            f"and the restricted reader failed too ({exc})"
        ) from exc
    if not isinstance(obj, dict):
        culprit = find_opaque(obj)
        raise UnsafeCheckpointError(
            f"{path}: refusing to load: the file's top-level object is not a dict"
            + (f" but a call to {culprit[0].split(': ')[-1]}" if culprit else "")
            + ". seglab never runs code from checkpoint files."
        )
    keys = [k for k in _WEIGHT_KEYS if k in obj]
    kept: dict[str, Any] = {k: obj[k] for k in keys} if keys else {"state_dict": obj}
    culprits = [c for k, v in kept.items() for c in find_opaque(v, k)]
    if culprits:
        raise UnsafeCheckpointError(
            f"{path}: refusing to load: its weights reference code that would have to run to rebuild them "
            f"({'; '.join(culprits[:5])}). seglab never runs code from checkpoint files; if you trust the file, "
            "convert it once with torch.load(..., weights_only=False) and save model.state_dict() or safetensors."
        )
    if keys and "meta" in obj:
        dropped = find_opaque(obj["meta"], "meta")
        kept["meta"] = scrub(obj["meta"])
        if dropped:
            _log.info("%s: meta entries needing unknown classes were set to None: %s", path, "; ".join(dropped[:10]))
    ignored = sorted(str(k) for k in obj if k not in kept) if keys else []
    _log.info("%s: read %s with the restricted reader (ignored: %s)", path, sorted(kept), ", ".join(ignored) or "-")
    return kept


def load_state_dict_file(filename: str | os.PathLike, map_location: Any = "cpu") -> dict:
    """Load a checkpoint safely: ``.safetensors`` or a torch ``.pth`` without running code from the file.

    A ``.pth`` gives what ``torch.load(weights_only=True)`` gives (MMSeg files: ``{'meta', 'state_dict', ...}``);
    when it refuses unknown classes (mmengine objects under ``message_hub``...), only the weights
    (``state_dict``/``model``/``state_dict_ema``) and ``meta`` are read. A ``.safetensors`` file gives
    ``{'state_dict': tensors, 'meta': dict}``.
    """
    path = os.fspath(filename)
    if not osp.isfile(path):
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    if path.endswith(".safetensors"):
        st = _safetensors()
        device = str(map_location) if isinstance(map_location, (str, torch.device)) else "cpu"
        tensors = st.load_file(path, device=device)
        with open(path, "rb") as f:  # the JSON header's __metadata__ holds our meta
            header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        raw = header.get("__metadata__") or {}
        meta = json.loads(raw["seglab_meta"]) if "seglab_meta" in raw else dict(raw)
        return {"state_dict": OrderedDict(tensors), "meta": meta}
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        ckpt = _load_restricted(path, exc)
    except Exception as exc:  # truncated, or not a torch file at all (torch raises many kinds here)
        reason = (str(exc).strip().splitlines() or [""])[0][:200]
        raise RuntimeError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {reason})") from exc
    if isinstance(map_location, (str, torch.device)) and str(map_location) != "cpu":
        ckpt = {k: _move(v, map_location) if k != "meta" else v for k, v in ckpt.items()}
    return ckpt


def get_state_dict(checkpoint: dict) -> dict:
    """Return the weights of a checkpoint dict: its ``state_dict``, ``model`` or ``state_dict_ema`` entry, or itself."""
    if not isinstance(checkpoint, dict):
        raise TypeError(f"a checkpoint must be a dict, got {type(checkpoint).__name__}")
    for key in _WEIGHT_KEYS:
        if key in checkpoint and isinstance(checkpoint[key], dict):
            return checkpoint[key]
    return checkpoint


def resolve_checkpoint(source: str | os.PathLike) -> tuple[str, str | None]:
    """A checkpoint source as ``(local path, keep_prefix)``; URLs and named checkpoints are downloaded once.

    ``keep_prefix`` is set for names whose table keeps only some weights (``mmcls://``: ``'backbone.'``).
    """
    name = os.fspath(source)
    if is_zoo_name(name):
        entry = resolve_zoo_name(name)
        return download_checkpoint(entry.url, check_hash=entry.check_hash), entry.keep_prefix
    if name.startswith(("http://", "https://")):
        return download_checkpoint(name), None
    if name.startswith("file://"):
        return url_to_path(name), None
    if "://" in name:
        raise ValueError(
            f"unsupported checkpoint scheme in {name!r}; use a local path, a file:// or http(s):// URL, "
            f"or a named checkpoint ({', '.join(zoo_schemes())})"
        )
    return name, None


def read_checkpoint(source: str | os.PathLike, map_location: Any = "cpu") -> dict:
    """Read the checkpoint dict of any source ``resolve_checkpoint`` accepts.

    For a named checkpoint with a ``keep_prefix`` only those weights are returned, renamed without
    it, as ``{'state_dict': ...}`` (mmengine's ``mmcls://`` behaviour).
    """
    path, keep_prefix = resolve_checkpoint(source)
    if path != os.fspath(source):
        _log.info("checkpoint %s is %s", os.fspath(source), path)
    checkpoint = load_state_dict_file(path, map_location)
    if keep_prefix:
        weights = get_state_dict(checkpoint)
        checkpoint = {"state_dict": OrderedDict(
            (k[len(keep_prefix):], v) for k, v in weights.items() if k.startswith(keep_prefix))}
    return checkpoint


def _short(keys: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... and {len(keys) - limit} more" if len(keys) > limit else "")


@dataclass
class LoadReport:
    """What ``load_weights`` did: tensors loaded of the model's ``total`` (BatchNorm step counters not
    counted), and the keys that were missing, unexpected or mis-shaped."""

    loaded: int
    total: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)

    def problems(self, limit: int = 20) -> list[str]:
        """One line per kind of mismatch, with counts and the first ``limit`` names."""
        lines = []
        if self.missing:
            lines.append(f"missing keys in checkpoint ({len(self.missing)}): {_short(self.missing, limit)}")
        if self.unexpected:
            lines.append(f"unexpected keys in checkpoint ({len(self.unexpected)}): {_short(self.unexpected, limit)}")
        if self.mismatched:
            lines.append(f"shape mismatch, not loaded ({len(self.mismatched)}): {_short(self.mismatched, limit // 2)}")
        return lines


def load_weights(model: nn.Module, state_dict: dict[str, Any]) -> LoadReport:
    """Copy the matching tensors of ``state_dict`` into ``model`` (shape mismatches skipped) and report."""
    target = model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model
    own = target.state_dict()
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and isinstance(v, torch.Tensor) and v.shape != own[k].shape
    ]
    skipped = {item.split(": ")[0] for item in mismatched}
    if skipped:
        kept: dict[str, Any] = OrderedDict((k, v) for k, v in state_dict.items() if k not in skipped)
        if hasattr(state_dict, "_metadata"):
            kept._metadata = state_dict._metadata  # type: ignore[attr-defined]
        state_dict = kept
    result = target.load_state_dict(state_dict, strict=False)
    # Mismatched keys are reported as such; BatchNorm's step counter is not a weight (mmengine skips it too).
    missing = [k for k in result.missing_keys if k not in skipped and not k.endswith("num_batches_tracked")]
    counted = [k for k in own if not k.endswith("num_batches_tracked")]
    loaded = sum(1 for k in counted if k in state_dict)
    return LoadReport(loaded, len(counted), missing, list(result.unexpected_keys), mismatched)


def load_checkpoint(
    model: nn.Module,
    filename: str | os.PathLike,
    map_location: Any = "cpu",
    strict: bool = False,
    revise_keys: Sequence[tuple[str, str]] = ((r"^module\.", ""),),
    logger: logging.Logger | None = None,
) -> dict:
    """Load weights from any checkpoint source (path, URL, named checkpoint) into ``model``; return the checkpoint.

    Keys are rewritten with ``revise_keys`` (regex, replacement). Missing, unexpected and
    shape-mismatched keys are reported in one message: an error when ``strict``, else a warning
    (mismatched shapes are skipped).
    """
    name = os.fspath(filename)
    checkpoint = read_checkpoint(name, map_location)
    source = get_state_dict(checkpoint)
    state_dict: dict[str, Any] = OrderedDict()
    for key, value in source.items():
        for pattern, repl in revise_keys:
            key = re.sub(pattern, repl, key)
        state_dict[key] = value
    if hasattr(source, "_metadata"):  # per-module versions, e.g. old BatchNorm without num_batches_tracked
        meta = OrderedDict()
        for key, value in source._metadata.items():
            for pattern, repl in revise_keys:
                key = re.sub(pattern, repl, key)
            meta[key] = value
        state_dict._metadata = meta  # type: ignore[attr-defined]
    report = load_weights(model, state_dict)
    if report.problems():
        message = f"load_checkpoint({name}): the checkpoint does not match the model:\n  " + "\n  ".join(
            report.problems())
        if strict:
            raise RuntimeError(message)
        if logger is not None:
            logger.warning(message)
        else:
            warnings.warn(message, stacklevel=2)
    return checkpoint

