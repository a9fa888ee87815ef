"""Building a run's parts from their MMSeg config keys: model, visualizer, hooks, optimization and loops.

Each builder reads one config section and names that section in its errors. Loops (and with them
the data loaders, optimizer and schedulers) are built on first use by ``LoopFactory``, so testing
needs no training data and a training-only section cannot break ``seglab test``.
"""
from __future__ import annotations

import difflib
import importlib.util
import os.path as osp
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from seglab.config import bool_switch
from seglab.models.winograd import winograd_conv
from seglab.registry import HOOKS, LOOPS, MODELS, VISUALIZERS, ConfigError

from .compiled import compile_forward
from .dataloader import build_dataloader
from .hooks import Hook, get_priority
from .loops import BaseTrainLoop, Evaluator, HookCaller
from .optim import OptimWrapper, build_optim_wrapper
from .run_context import RunContext
from .runtime import check_keys, to_channels_last
from .schedulers import ParamScheduler, build_param_schedulers

__all__ = ["RUNTIME_KEYS", "LoopFactory", "TrainParts", "build_hook", "build_hooks", "build_model",
           "build_optimization", "build_visualizer", "resolve_cfg", "wrap_model"]

RUNTIME_KEYS = (
    "model", "work_dir", "train_dataloader", "val_dataloader", "test_dataloader", "train_cfg", "val_cfg",
    "test_cfg", "val_evaluator", "test_evaluator", "optim_wrapper", "param_scheduler", "default_hooks",
    "custom_hooks", "env_cfg", "randomness", "load_from", "resume", "log_level", "log_processor", "visualizer",
    "vis_backends", "default_scope", "launcher", "tta_model", "tta_pipeline", "model_wrapper_cfg", "compile",
    "channels_last", "fuse_conv_bn", "winograd_conv", "blocked_depthwise", "retain_heap", "experiment_name",
    "custom_imports",
)
_DEFAULT_HOOKS = dict(
    timer=dict(type="IterTimerHook"), logger=dict(type="LoggerHook"), param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", interval=1), sampler_seed=dict(type="DistSamplerSeedHook"),
    label_stats=dict(type="LabelStatsHook"),  # label warnings in every run; off: default_hooks.label_stats=None
)
# vis backends of optional extras: type -> the package (and extra) it needs
_BACKEND_PACKAGES = {"TensorboardVisBackend": "tensorboard", "WandbVisBackend": "wandb", "MLflowVisBackend": "mlflow"}
_WRAPPER_KEYS = {"type", "find_unused_parameters", "broadcast_buffers", "bucket_cap_mb", "gradient_as_bucket_view",
                 "static_graph", "detect_anomalous_params"}


def _plain_copy(value: Any) -> Any:
    """A copy of the dict/list/tuple structure; built objects (loaders, hooks, modules) stay shared."""
    if isinstance(value, Mapping):
        return {k: _plain_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain_copy(v) for v in value)
    return value


def resolve_cfg(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A plain-dict copy of a run config; fails on a missing work_dir or a misspelt runtime section."""
    if cfg.get("work_dir") is None:
        raise ConfigError("the config has no work_dir; pass --work-dir or set work_dir='work_dirs/<name>'")
    for key in cfg:
        if key not in RUNTIME_KEYS:
            hint = difflib.get_close_matches(key, RUNTIME_KEYS, n=1, cutoff=0.885)
            if hint and isinstance(cfg[key], Mapping | list):
                raise ConfigError(f"config key '{key}' looks like a misspelt '{hint[0]}'; rename it")
    c = _plain_copy(cfg.to_dict() if hasattr(cfg, "to_dict") else cfg)
    vis = c.get("visualizer")
    # A top-level vis_backends (e.g. TensorBoard added in a child config) wins over the one the
    # inherited visualizer captured when default_runtime.py was read.
    if isinstance(vis, Mapping) and c.get("vis_backends") is not None:
        c["visualizer"] = dict(vis, vis_backends=c["vis_backends"])
    return c


# ---- model ----------------------------------------------------------------------------------------
def build_model(cfg: Mapping | nn.Module, ctx: RunContext, wrapper_cfg: Mapping | None = None,
                compile: bool | Mapping = False, channels_last: bool = False, winograd: bool = False) -> nn.Module:
    """Build ``model``, run its ``init_weights()`` (pretrained backbones load here), move it, compile and wrap it.

    ``winograd`` routes large 3x3 convolutions through Winograd F(4x4, 3x3) on the CPU, in training
    (gradients included) and evaluation (:mod:`seglab.models.winograd`).
    """
    model = MODELS.build(cfg) if isinstance(cfg, Mapping) else cfg
    if hasattr(model, "init_weights"):
        model.init_weights()  # before load_from/resume, which overwrite these weights
    model = model.to(ctx.device)
    if channels_last:
        model = to_channels_last(model)
    if winograd:
        model = winograd_conv(model, inplace=True, training=True)
    compile_forward(model, compile)
    return wrap_model(model, wrapper_cfg, ctx.world_size, ctx.device, ctx.logger)


def wrap_model(model: nn.Module, wrapper_cfg: Mapping | None, world_size: int, device: torch.device,
               logger: Any) -> nn.Module:
    """DDP (SyncBN on CUDA) when running on several processes; the bare model otherwise."""
    wrapper_cfg = dict(wrapper_cfg or {})
    check_keys(wrapper_cfg, _WRAPPER_KEYS, "model_wrapper_cfg")
    kind = wrapper_cfg.pop("type", "SegDistributedDataParallel")
    if kind not in ("SegDistributedDataParallel", "MMDistributedDataParallel", "DistributedDataParallel"):
        raise ConfigError(f"model_wrapper_cfg.type {kind!r} is not supported; use 'MMDistributedDataParallel'")
    wrapper_cfg.pop("detect_anomalous_params", None)  # an MMEngine debugging switch; no effect here
    if world_size <= 1:
        return model
    from .distributed import SegDistributedDataParallel, convert_sync_bn

    model = convert_sync_bn(model, device, world_size, logger)
    device_ids = [device.index] if device.type == "cuda" else None
    return SegDistributedDataParallel(model, device_ids=device_ids, **wrapper_cfg)


# ---- visualizer and hooks -------------------------------------------------------------------------
def build_visualizer(cfg: Any, ctx: RunContext) -> Any:
    """The rank-0 visualizer (``SegLocalVisualizer`` writing to ``<log_dir>/vis_data`` by default); None elsewhere."""
    if ctx.rank != 0:
        return None
    if cfg is None:
        cfg = dict(type="SegLocalVisualizer", vis_backends=[dict(type="LocalVisBackend")])
    if not isinstance(cfg, Mapping):
        return cfg
    cfg = dict(cfg)
    for backend in cfg.get("vis_backends") or []:
        kind = backend.get("type") if isinstance(backend, Mapping) else None
        package = _BACKEND_PACKAGES.get(kind)
        if package and importlib.util.find_spec(package) is None:
            raise ConfigError(f"vis_backends: {kind} needs the {package} package; install it "
                              f"with pip install 'seglab[{package}]' or remove it from vis_backends")
    cfg.setdefault("save_dir", osp.join(ctx.log_dir, "vis_data"))
    return VISUALIZERS.build(cfg)


def build_hook(hook: Hook | Mapping, priority: int | str | None = None) -> Hook:
    """A hook from an object or a config; its priority (a config's ``priority`` key wins) becomes an int."""
    if isinstance(hook, Mapping):
        hook = dict(hook)
        priority = hook.pop("priority", priority)
        hook = HOOKS.build(hook)
    hook.priority = get_priority(priority if priority is not None else getattr(hook, "priority", "NORMAL"))
    return hook


def build_hooks(default_hooks: Mapping | None, custom_hooks: Sequence | None) -> list[Hook]:
    """MMSeg's default hooks (a None entry removes one) followed by the custom hooks, in config order."""
    hooks = dict(_DEFAULT_HOOKS)
    hooks.update(default_hooks or {})
    built = []
    for where, cfg in [(f"default_hooks.{k}", v) for k, v in hooks.items()] + [
            (f"custom_hooks[{i}]", v) for i, v in enumerate(custom_hooks or [])]:
        if cfg is None:
            continue
        try:
            built.append(build_hook(cfg))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    return built


# ---- optimization and loops -----------------------------------------------------------------------
def build_optimization(model: nn.Module, optim_cfg: Mapping | OptimWrapper | None, scheduler_cfg: Any,
                       iters_per_epoch: int, iter_based: bool) -> tuple[OptimWrapper, list[ParamScheduler]]:
    """The optim wrapper (``optim_wrapper``) and schedulers (``param_scheduler``) of a training run."""
    if optim_cfg is None:
        raise ConfigError("training needs optim_wrapper in the config")
    try:
        optim_wrapper = build_optim_wrapper(model, optim_cfg)
    except ConfigError as exc:
        raise ConfigError(f"optim_wrapper: {exc}") from exc
    cfgs = [scheduler_cfg] if isinstance(scheduler_cfg, (Mapping, ParamScheduler)) else list(scheduler_cfg or [])
    converted = []
    for cfg in cfgs:
        if isinstance(cfg, Mapping) and cfg.get("by_epoch", True):
            cfg = dict(cfg)
            if cfg.pop("convert_to_iter_based", False):  # epochs -> iterations, as in MMEngine
                cfg.update(by_epoch=False, begin=int(cfg.get("begin", 0) * iters_per_epoch))
                for key in ("end", "T_max"):
                    if cfg.get(key):
                        cfg[key] = int(cfg[key] * iters_per_epoch)
            elif iter_based:
                raise ConfigError(f"param_scheduler {cfg.get('type')}: by_epoch=True (the default) in an "
                                  "iteration-based run never steps; set by_epoch=False")
        converted.append(cfg)
    return optim_wrapper, build_param_schedulers(converted, optim_wrapper)


@dataclass
class TrainParts:
    """What training adds to a runner: the loop (with its loader and optim wrapper) and the schedulers."""

    loop: BaseTrainLoop
    param_schedulers: list[ParamScheduler] = field(default_factory=list)

    @property
    def optim_wrapper(self) -> OptimWrapper:
        """The loop's optim wrapper."""
        return self.loop.optim_wrapper


class LoopFactory:
    """Builds loops from a run config (train_/val_/test_ dataloader, cfg and evaluator, optim_wrapper, param_scheduler)."""

    def __init__(self, cfg: Mapping[str, Any], model: nn.Module, ctx: RunContext) -> None:
        self.cfg = cfg
        self.model = model
        self.ctx = ctx

    def dataloader(self, cfg: DataLoader | Mapping, where: str) -> DataLoader:
        """A DataLoader from a config dict; samplers get the run's seed, batches are pinned for a GPU.

        Workers run OpenCV with ``env_cfg.mp_cfg.opencv_num_threads`` threads (sequential when unset).
        """
        mp_cfg = (self.cfg.get("env_cfg") or {}).get("mp_cfg") or {}
        return build_dataloader(cfg, seed=self.ctx.sampler_seed, where=where, device=self.ctx.device,
                                opencv_threads=int(mp_cfg.get("opencv_num_threads", 0)))

    def train(self, call_hook: HookCaller, should_stop: Callable[[], bool], val_loop: Any = None) -> TrainParts:
        """The training loop (``train_cfg``), its data loader, optim wrapper and schedulers."""
        train_cfg, loader_cfg = self.cfg.get("train_cfg"), self.cfg.get("train_dataloader")
        if train_cfg is None or loader_cfg is None:
            raise ConfigError("training needs train_cfg and train_dataloader in the config")
        loop_cfg = dict(train_cfg)
        if "type" not in loop_cfg:
            loop_cfg["type"] = "EpochBasedTrainLoop" if loop_cfg.pop("by_epoch", False) else "IterBasedTrainLoop"
        loader = self.dataloader(loader_cfg, "train_dataloader")
        optim_wrapper, schedulers = build_optimization(
            self.model, self.cfg.get("optim_wrapper"), self.cfg.get("param_scheduler"), len(loader),
            iter_based=loop_cfg["type"] == "IterBasedTrainLoop")
        try:
            loop = LOOPS.build(loop_cfg, model=self.model, dataloader=loader, optim_wrapper=optim_wrapper,
                               call_hook=call_hook, val_loop=val_loop, should_stop=should_stop)
        except ConfigError as exc:
            raise ConfigError(f"train_cfg: {exc}") from exc
        return TrainParts(loop, schedulers)

    def eval(self, mode: str, call_hook: HookCaller) -> Any:
        """The ``mode`` ('val' or 'test') loop, or None when its cfg, dataloader or evaluator is missing."""
        cfg, loader, evaluator = (self.cfg.get(f"{mode}_{key}") for key in ("cfg", "dataloader", "evaluator"))
        if cfg is None or loader is None or evaluator is None:
            return None
        cfg = dict(cfg)
        cfg.setdefault("type", "ValLoop" if mode == "val" else "TestLoop")
        if cfg["type"] in ("ValLoop", "TestLoop"):  # the run-wide switch; val_cfg/test_cfg may override it
            for key in ("fuse_conv_bn", "winograd_conv", "blocked_depthwise"):
                cfg.setdefault(key, bool_switch(self.cfg, key))
        loader = self.dataloader(loader, f"{mode}_dataloader")
        try:
            evaluator = evaluator if isinstance(evaluator, Evaluator) else Evaluator(evaluator)
        except ConfigError as exc:
            raise ConfigError(f"{mode}_evaluator: {exc}") from exc
        try:
            return LOOPS.build(cfg, model=self.model, dataloader=loader, evaluator=evaluator, call_hook=call_hook,
                               device=self.ctx.device)
        except ConfigError as exc:
            raise ConfigError(f"{mode}_cfg: {exc}") from exc
