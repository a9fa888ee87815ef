"""MMSegmentation arguments seglab accepts (so MMSeg configs load) but that have no effect here.

``UNUSED_ARGUMENTS`` is the one table of them: key -> the values that are harmless (MMSeg's defaults)
and why the argument has no effect / what to use instead. A component calls ``warn_unused`` with the
values it received; a value outside the harmless ones warns once per key, so a config that relies on
one of these arguments is never silently wrong. Keys are ``"name"`` (any component) or
``"Owner.name"`` (that component only; it wins over a plain ``"name"`` entry).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

__all__ = ["UNUSED_ARGUMENTS", "UnusedArgument", "UnusedArgumentWarning", "warn_unused"]


class UnusedArgumentWarning(UserWarning):
    """An MMSeg argument that seglab accepts but does not apply was set to a non-default value."""


@dataclass(frozen=True)
class UnusedArgument:
    """The values that are harmless to pass (``defaults``) and why the argument has no effect."""

    defaults: tuple[Any, ...]
    reason: str


_LOCAL_FILES = ("seglab reads local files only (no petrel/HTTP/LMDB file backends); "
                "copy or mount the data locally and drop this key")
_LOG_FILES = "logs are written to <work_dir>/<timestamp>/ only; copy them elsewhere after the run"
_NDARRAY = "LoadImageFromNDArray takes an image that is already decoded; nothing is read or decoded"

UNUSED_ARGUMENTS: dict[str, UnusedArgument] = {
    # runtime (Runner)
    "default_scope": UnusedArgument(
        (None, "mmseg"), "seglab has no registry scopes: every type is looked up in seglab's registries; "
        "name your own classes by import path (type='my_pkg.module.MyClass')"),
    "log_processor": UnusedArgument(
        (None, {}, {"by_epoch": False}), "seglab has no LogProcessor: LoggerHook writes the log lines "
        "(set default_hooks.logger.interval); window sizes and custom_cfg are not applied"),
    # file backends
    "backend_args": UnusedArgument((None,), _LOCAL_FILES),
    "file_client_args": UnusedArgument((None,), _LOCAL_FILES),
    # datasets
    "filter_cfg": UnusedArgument(
        (None,), "seglab datasets do no filtering (MMSeg's segmentation datasets define none either); "
        "select samples with indices= or ann_file="),
    # models: a head's init_cfg is handled by seglab.models.weight_init (Pretrained loads, others warn)
    # transforms
    "Resize.backend": UnusedArgument(("cv2",), "seglab resizes with OpenCV only"),
    "Resize.clip_object_border": UnusedArgument(
        (True,), "seglab transforms carry images and label maps only (no boxes to clip)"),
    "LoadImageFromNDArray.color_type": UnusedArgument(("color",), _NDARRAY),
    "LoadImageFromNDArray.imdecode_backend": UnusedArgument(("cv2",), _NDARRAY),
    "LoadImageFromNDArray.ignore_empty": UnusedArgument((False,), _NDARRAY),
    # metrics
    "CityscapesMetric.ignore_index": UnusedArgument(
        (255,), "the official evaluation scores the labelIds ground truth and ignores Cityscapes' void labelIds "
        "itself; predictions are trainIds 0-18, so no index is ignored on that side"),
    "CityscapesMetric.collect_device": UnusedArgument(
        ("cpu",), "CityscapesMetric gathers its file names with torch.distributed; no tensors are collected"),
    "WandbVisBackend.commit": UnusedArgument(
        (True, None), "WandbVisBackend writes one W&B row per iteration and commits it when a later iteration is "
        "logged or the run finishes, so nothing logged is lost; commit=False changes nothing"),
    "IoUMetric.collect_device": UnusedArgument(
        ("cpu",), "IoUMetric all-reduces its confusion matrix on the evaluation device; nothing is collected"),
    "DepthMetric.collect_device": UnusedArgument(
        ("cpu",), "DepthMetric all-reduces its per-image sums on the evaluation device; nothing is collected"),
    # engine
    "AmpOptimWrapper.use_fsdp": UnusedArgument(
        (False,), "seglab trains with DistributedDataParallel only (no FSDP)"),
    "ParamScheduler.verbose": UnusedArgument(
        (False,), "schedulers print nothing; the learning rate is logged by LoggerHook"),
    "CheckpointHook.published_keys": UnusedArgument(
        (None,), "checkpoints are not published (key-stripped, hash-named) by the hook; "
                 "strip keys and rename the file after training"),
    "LoggerHook.interval_exp_name": UnusedArgument((1000,), "the experiment name is not re-logged periodically"),
    "LoggerHook.out_dir": UnusedArgument((None,), _LOG_FILES),
    "LoggerHook.out_suffix": UnusedArgument(((".json", ".log", ".py"),), _LOG_FILES),
    "LoggerHook.keep_local": UnusedArgument((True,), _LOG_FILES),
    # ERFNet: MMSeg builds its blocks with BN(eps=1e-3) and ReLU whatever these say
    "ERFNet.conv_cfg": UnusedArgument((None,), "ERFNet's blocks use plain convs (as in MMSeg)"),
    "ERFNet.norm_cfg": UnusedArgument(
        ({"type": "BN", "requires_grad": True},), "ERFNet's blocks use BatchNorm with eps=1e-3 (as in MMSeg)"),
    "ERFNet.act_cfg": UnusedArgument(({"type": "ReLU"},), "ERFNet's blocks use ReLU (as in MMSeg)"),
}

_warned: set[str] = set()


def warn_unused(owner: str, **values: Any) -> None:
    """Warn (once per key) for each argument in ``values`` that the table lists and that is not harmless."""
    for name, value in values.items():
        key = f"{owner}.{name}" if f"{owner}.{name}" in UNUSED_ARGUMENTS else name
        entry = UNUSED_ARGUMENTS.get(key)
        if entry is None:
            raise KeyError(f"warn_unused: '{owner}.{name}' is not in UNUSED_ARGUMENTS; add it with its reason")
        if _is_default(value, entry.defaults) or key in _warned:
            continue
        _warned.add(key)
        warnings.warn(f"{owner}: {name}={value!r} has no effect in seglab: {entry.reason}",
                      UnusedArgumentWarning, stacklevel=3)


def _is_default(value: Any, defaults: tuple[Any, ...]) -> bool:
    # Configs hand over ConfigDicts and lists where MMSeg wrote dicts and tuples: compare as plain values.
    plain = _plain(value)
    return any(plain == _plain(d) for d in defaults)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value
