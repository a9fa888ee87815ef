"""Checkpoint I/O: atomic save, safe load (.pth / .safetensors, MMSeg files) and loading into a model."""

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
from typing import Any

import torch
from torch import nn

from ._safe_pickle import find_opaque, restricted_load, scrub

__all__ = [
    "UnsafeCheckpointError",
    "download_checkpoint",
    "get_state_dict",
    "load_checkpoint",
    "load_state_dict_file",
    "save_checkpoint",
    "save_safetensors",
]

_log = logging.getLogger("seglab")
_WEIGHT_KEYS = ("state_dict", "model", "state_dict_ema")
CACHE_DIR = osp.join("~", ".cache", "seglab", "checkpoints")


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
    if isinstance(map_location, (str, torch.device)) and str(map_location) != "cpu":
        ckpt = {k: _move(v, map_location) if k != "meta" else v for k, v in ckpt.items()}
    return ckpt


def download_checkpoint(url: str, cache_dir: str | None = None) -> str:
    """Download ``url`` once into ``~/.cache/seglab/checkpoints`` and return the local path.

    A ``-<hex>`` suffix in the file name (MMSeg / torch.hub convention) is checked as a sha256 prefix.
    """
    folder = osp.expanduser(cache_dir or CACHE_DIR)
    os.makedirs(folder, exist_ok=True)
    name = osp.basename(url.split("?")[0])
    dst = osp.join(folder, name)
    if not osp.isfile(dst):
        match = re.search(r"-([a-f0-9]{8,64})\.[A-Za-z]+$", name)
        _log.info("downloading %s to %s", url, dst)
        torch.hub.download_url_to_file(url, dst, hash_prefix=match.group(1) if match else None)
    return dst


def get_state_dict(checkpoint: dict) -> dict:
    """Return the weights of a checkpoint dict: its ``state_dict``, ``model`` or ``state_dict_ema`` entry, or itself."""
    if not isinstance(checkpoint, dict):
        raise TypeError(f"a checkpoint must be a dict, got {type(checkpoint).__name__}")
    for key in _WEIGHT_KEYS:
        if key in checkpoint and isinstance(checkpoint[key], dict):
            return checkpoint[key]
    return checkpoint


def _short(keys: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... and {len(keys) - limit} more" if len(keys) > limit else "")


def load_checkpoint(
    model: nn.Module,
    filename: str | os.PathLike,
    map_location: Any = "cpu",
    strict: bool = False,
    revise_keys: Sequence[tuple[str, str]] = ((r"^module\.", ""),),
    logger: logging.Logger | None = None,
) -> dict:
    """Load weights from a file or http(s) URL into ``model`` and return the whole checkpoint dict.

    Keys are rewritten with ``revise_keys`` (regex, replacement). Missing, unexpected and
    shape-mismatched keys are reported in one message: an error when ``strict``, else a warning
    (mismatched shapes are skipped).
    """
    name = os.fspath(filename)
    if name.startswith(("http://", "https://")):
        name = download_checkpoint(name)
    elif "://" in name:
        raise ValueError(f"load_checkpoint: unsupported checkpoint scheme in {name!r}; use a file path or http(s) URL")
    checkpoint = load_state_dict_file(name, map_location)
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

    target = model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model
    own = target.state_dict()
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and isinstance(v, torch.Tensor) and v.shape != own[k].shape
    ]
    skipped = {item.split(": ")[0] for item in mismatched}
    for key in skipped:
        del state_dict[key]
    result = target.load_state_dict(state_dict, strict=False)
    missing = [k for k in result.missing_keys if k not in skipped]  # skipped ones are reported as mismatches
    problems = []
    if missing:
        problems.append(f"missing keys in checkpoint ({len(missing)}): {_short(missing)}")
    if result.unexpected_keys:
        problems.append(
            f"unexpected keys in checkpoint ({len(result.unexpected_keys)}): {_short(result.unexpected_keys)}"
        )
    if mismatched:
        problems.append(f"shape mismatch, not loaded ({len(mismatched)}): {_short(mismatched, 10)}")
    if problems:
        message = f"load_checkpoint({name}): the checkpoint does not match the model:\n  " + "\n  ".join(problems)
        if strict:
            raise RuntimeError(message)
        if logger is not None:
            logger.warning(message)
        else:
            warnings.warn(message, stacklevel=2)
    return checkpoint
