"""Runner: builds everything a config describes (MMSeg 1.x runtime keys) and runs training or testing."""
from __future__ import annotations

import copy
import difflib
import os
import os.path as osp
import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from seglab.registry import HOOKS, LOOPS, MODELS, VISUALIZERS, ConfigError
from seglab.unused_arguments import warn_unused

from .checkpoint import _atomic_write, load_checkpoint, load_state_dict_file, save_checkpoint
from .dataloader import build_dataloader
from .hooks import Hook, get_priority
from .logging import MessageHub, setup_logger
from .optim import OptimWrapper, build_optim_wrapper
from .runtime import check_keys as _check_keys
from .runtime import (
    collect_env,
    compile_cfg,
    fresh_timestamp,
    import_modules,
    set_rng_state,
    to_channels_last,
)
from .schedulers import ParamScheduler, build_param_schedulers
from .training_state import restore_training_state, training_state

__all__ = ["RUNTIME_KEYS", "Runner"]

RUNTIME_KEYS = (
    "model", "work_dir", "train_dataloader", "val_dataloader", "test_dataloader", "train_cfg", "val_cfg",
    "test_cfg", "val_evaluator", "test_evaluator", "optim_wrapper", "param_scheduler", "default_hooks",
    "custom_hooks", "env_cfg", "randomness", "load_from", "resume", "log_level", "log_processor", "visualizer",
    "vis_backends", "default_scope", "launcher", "tta_model", "tta_pipeline", "model_wrapper_cfg", "compile",
    "channels_last", "experiment_name", "custom_imports",
)
_DEFAULT_HOOKS = dict(
    timer=dict(type="IterTimerHook"), logger=dict(type="LoggerHook"), param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", interval=1), sampler_seed=dict(type="DistSamplerSeedHook"),
)
_ENV_KEYS = {"cudnn_benchmark", "mp_cfg", "dist_cfg", "resource_limit"}
_DIST_KEYS = {"backend", "timeout", "port", "init_method"}
_WRAPPER_KEYS = {"type", "find_unused_parameters", "broadcast_buffers", "bucket_cap_mb", "gradient_as_bucket_view",
                 "static_graph", "detect_anomalous_params"}
_RANDOMNESS_KEYS = {"seed", "deterministic", "diff_rank_seed"}


class Runner:
    """Owns the model, data, optimizer, schedulers, loops and hooks of one run.

    Build it with ``Runner.from_cfg(cfg)`` (a ``seglab.config.Config``) or directly with objects.
    Output goes to ``work_dir``: checkpoints and ``last_checkpoint``, the resolved config
    ``<config name>.py``, and ``<timestamp>/`` with the log file and ``vis_data/scalars.json``.
    """

    def __init__(
        self,
        model: nn.Module | dict,
        work_dir: str,
        train_dataloader: DataLoader | dict | None = None,
        val_dataloader: DataLoader | dict | None = None,
        test_dataloader: DataLoader | dict | None = None,
        train_cfg: dict | None = None,
        val_cfg: dict | None = None,
        test_cfg: dict | None = None,
        val_evaluator: Any = None,
        test_evaluator: Any = None,
        optim_wrapper: OptimWrapper | dict | None = None,
        param_scheduler: ParamScheduler | dict | Sequence | None = None,
        default_hooks: dict | None = None,
        custom_hooks: Sequence[dict | Hook] | None = None,
        env_cfg: dict | None = None,
        randomness: dict | None = None,
        load_from: str | None = None,
        resume: bool | str = False,
        log_level: str = "INFO",
        log_processor: dict | None = None,
        visualizer: Any = None,
        default_scope: str | None = "mmseg",
        launcher: str = "none",
        cfg: Any = None,
        device: str | torch.device | None = None,
        experiment_name: str | None = None,
        model_wrapper_cfg: dict | None = None,
        compile: bool | dict = False,
        channels_last: bool = False,
    ) -> None:
        self.cfg = cfg
        warn_unused("Runner", default_scope=default_scope, log_processor=log_processor)
        _check_keys(env_cfg, _ENV_KEYS, "env_cfg")
        _check_keys(randomness, _RANDOMNESS_KEYS, "randomness")
        self.env_cfg = dict(env_cfg or {})
        _check_keys(self.env_cfg.get("dist_cfg"), _DIST_KEYS, "env_cfg.dist_cfg")
        self.launcher = launcher
        from .distributed import broadcast_object, init_dist

        dist_cfg = dict(self.env_cfg.get("dist_cfg") or {})
        self.rank, self.world_size = init_dist(launcher, dist_cfg.get("backend"), dist_cfg.get("timeout"))
        self.work_dir = osp.abspath(work_dir)
        # Every rank must name the same log folder: rank 0 picks it (a fresh one) and tells the others.
        timestamp = None
        if self.rank == 0:
            os.makedirs(self.work_dir, exist_ok=True)
            timestamp = fresh_timestamp(self.work_dir)
        self.timestamp = broadcast_object(timestamp)
        self.log_dir = osp.join(self.work_dir, self.timestamp)
        self.experiment_name = experiment_name or self.timestamp
        # Only rank 0 writes files; the other ranks print warnings and errors only.
        log_file = osp.join(self.log_dir, f"{self.timestamp}.log") if self.rank == 0 else None
        self.logger = setup_logger(log_file, log_level if self.rank == 0 else "WARNING")
        self.message_hub = MessageHub()
        self.iter_finished = False  # True during after_train_iter hooks (the step is done, not yet counted)
        self.should_stop = False  # set by hooks (e.g. early stopping) to end training after this iteration
        self._setup_env()
        self.seed = self._set_randomness(randomness or {})
        self._rng_to_restore: dict | None = None

        if device is None:
            device = f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())  # torchrun set it from LOCAL_RANK
        model = MODELS.build(model) if isinstance(model, Mapping) else model
        if hasattr(model, "init_weights"):
            model.init_weights()
        model = model.to(self.device)
        self.channels_last = bool(channels_last)
        if self.channels_last:
            model = to_channels_last(model)
        self.compile_cfg = compile_cfg(compile)
        if self.compile_cfg is not None:
            model.forward = torch.compile(model.forward, **self.compile_cfg)
        self.model = self._wrap_model(model, model_wrapper_cfg)

        self._train_dataloader, self._val_dataloader, self._test_dataloader = (
            train_dataloader, val_dataloader, test_dataloader)
        self._train_cfg, self._val_cfg, self._test_cfg = train_cfg, val_cfg, test_cfg
        self._val_evaluator, self._test_evaluator = val_evaluator, test_evaluator
        self._optim_wrapper_cfg = optim_wrapper
        self._param_scheduler_cfg = param_scheduler
        self.optim_wrapper: OptimWrapper | None = None
        self.param_schedulers: list[ParamScheduler] = []
        self._train_loop: Any = None
        self._val_loop: Any = None
        self._test_loop: Any = None
        self.load_from = load_from
        self.resume_from = resume
        self.visualizer = self._build_visualizer(visualizer)
        self.hooks: list[Hook] = []
        self._register_hooks(default_hooks, custom_hooks)
        if cfg is not None:
            self._dump_config(cfg)

    # ---- construction from a config -------------------------------------------------------------
    @classmethod
    def from_cfg(cls, cfg: Any, device: str | None = None) -> Runner:
        """Build a runner from a loaded config; unknown top-level keys are data (pipelines, crop_size...)."""
        if cfg.get("work_dir") is None:
            raise ConfigError("the config has no work_dir; pass --work-dir or set work_dir='work_dirs/<name>'")
        for key in cfg:
            if key not in RUNTIME_KEYS:
                hint = difflib.get_close_matches(key, RUNTIME_KEYS, n=1, cutoff=0.885)
                if hint and isinstance(cfg[key], Mapping | list):
                    raise ConfigError(f"config key '{key}' looks like a misspelt '{hint[0]}'; rename it")
        c = copy.deepcopy(dict(cfg.to_dict() if hasattr(cfg, "to_dict") else cfg))
        import_modules(c.get("custom_imports"))
        vis = c.get("visualizer")
        # A top-level vis_backends (e.g. TensorBoard added in a child config) wins over the one the
        # inherited visualizer captured when default_runtime.py was read.
        if isinstance(vis, Mapping) and c.get("vis_backends") is not None:
            vis = dict(vis, vis_backends=c["vis_backends"])
        return cls(
            model=c["model"], work_dir=c["work_dir"], train_dataloader=c.get("train_dataloader"),
            val_dataloader=c.get("val_dataloader"), test_dataloader=c.get("test_dataloader"),
            train_cfg=c.get("train_cfg"), val_cfg=c.get("val_cfg"), test_cfg=c.get("test_cfg"),
            val_evaluator=c.get("val_evaluator"), test_evaluator=c.get("test_evaluator"),
            optim_wrapper=c.get("optim_wrapper"), param_scheduler=c.get("param_scheduler"),
            default_hooks=c.get("default_hooks"), custom_hooks=c.get("custom_hooks"), env_cfg=c.get("env_cfg"),
            randomness=c.get("randomness"), load_from=c.get("load_from"), resume=c.get("resume", False),
            log_level=c.get("log_level", "INFO"), log_processor=c.get("log_processor"), visualizer=vis,
            default_scope=c.get("default_scope"), launcher=c.get("launcher", "none"), cfg=cfg, device=device,
            experiment_name=c.get("experiment_name"), model_wrapper_cfg=c.get("model_wrapper_cfg"),
            compile=c.get("compile", False), channels_last=c.get("channels_last", False),
        )

    def _wrap_model(self, model: nn.Module, wrapper_cfg: dict | None) -> nn.Module:
        """DDP (SyncBN on CUDA) when running on several processes; the bare model otherwise."""
        wrapper_cfg = dict(wrapper_cfg or {})
        _check_keys(wrapper_cfg, _WRAPPER_KEYS, "model_wrapper_cfg")
        kind = wrapper_cfg.pop("type", "SegDistributedDataParallel")
        if kind not in ("SegDistributedDataParallel", "MMDistributedDataParallel", "DistributedDataParallel"):
            raise ConfigError(f"model_wrapper_cfg.type {kind!r} is not supported; use 'MMDistributedDataParallel'")
        wrapper_cfg.pop("detect_anomalous_params", None)  # an MMEngine debugging switch; no effect here
        if self.world_size <= 1:
            return model
        from .distributed import convert_sync_bn

        model = convert_sync_bn(model, self.device, self.world_size, self.logger)
        from .distributed import SegDistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return SegDistributedDataParallel(model, device_ids=device_ids, **wrapper_cfg)

    def _dump_config(self, cfg: Any) -> None:
        name = osp.basename(getattr(cfg, "filename", None) or "config.py")
        name = osp.splitext(name)[0] + ".py"
        if self.rank == 0 and hasattr(cfg, "dump"):
            cfg.dump(osp.join(self.work_dir, name))
        if self.visualizer is not None and self.rank == 0:
            self.visualizer.add_config(cfg)

    # ---- environment ----------------------------------------------------------------------------
    def _setup_env(self) -> None:
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = bool(self.env_cfg.get("cudnn_benchmark", False))
        mp_cfg = self.env_cfg.get("mp_cfg") or {}
        _check_keys(mp_cfg, {"mp_start_method", "opencv_num_threads"}, "env_cfg.mp_cfg")
        method = mp_cfg.get("mp_start_method")
        if method is not None:
            import multiprocessing as mp

            if method not in mp.get_all_start_methods():
                raise ConfigError(f"env_cfg.mp_cfg.mp_start_method: {method!r} is not available here; "
                                  f"choose from {mp.get_all_start_methods()}")
            if mp.get_start_method(allow_none=True) != method:
                mp.set_start_method(method, force=True)  # for DataLoader workers
        if "opencv_num_threads" in mp_cfg:
            import cv2

            cv2.setNumThreads(int(mp_cfg["opencv_num_threads"]))

    def _set_randomness(self, randomness: dict) -> int:
        seed = randomness.get("seed")
        if seed is None:
            from .distributed import broadcast_object

            # All ranks need one seed: the samplers draw the same global permutation everywhere.
            seed = broadcast_object(int(np.random.SeedSequence().entropy % 2**31))
        self.sampler_seed = int(seed)  # samplers share it on every rank even with diff_rank_seed
        if randomness.get("diff_rank_seed", False):
            seed += self.rank
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        if randomness.get("deterministic", False):
            # cuBLAS needs this workspace setting for reproducible matmuls (read when CUDA starts).
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            # warn_only: some segmentation ops (bilinear upsampling backward on CUDA) have no
            # deterministic kernel; they warn instead of stopping the run.
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        return int(seed)

    def _build_visualizer(self, cfg: Any) -> Any:
        if self.rank != 0:
            return None
        if cfg is None:
            cfg = dict(type="SegLocalVisualizer", vis_backends=[dict(type="LocalVisBackend")])
        if not isinstance(cfg, Mapping):
            return cfg
        cfg = dict(cfg)
        for backend in cfg.get("vis_backends") or []:
            kind = backend.get("type") if isinstance(backend, Mapping) else None
            if kind == "TensorboardVisBackend":
                import importlib.util

                if importlib.util.find_spec("tensorboard") is None:
                    raise ConfigError("vis_backends: TensorboardVisBackend needs the tensorboard package; install it "
                                      "with pip install 'seglab[tensorboard]' or remove it from vis_backends")
        cfg.setdefault("save_dir", osp.join(self.log_dir, "vis_data"))
        return VISUALIZERS.build(cfg)

    # ---- hooks -----------------------------------------------------------------------------------
    def register_hook(self, hook: Hook | dict, priority: int | str | None = None) -> None:
        """Add a hook (object or config; a config's ``priority`` key overrides the class default)."""
        if isinstance(hook, Mapping):
            hook = dict(hook)
            priority = hook.pop("priority", priority)
            hook = HOOKS.build(hook)
        hook.priority = get_priority(priority if priority is not None else getattr(hook, "priority", "NORMAL"))
        index = len(self.hooks)
        while index > 0 and self.hooks[index - 1].priority > hook.priority:
            index -= 1  # stable: equal priorities keep registration order
        self.hooks.insert(index, hook)

    def _register_hooks(self, default_hooks: dict | None, custom_hooks: Sequence | None) -> None:
        hooks = dict(_DEFAULT_HOOKS)
        hooks.update(default_hooks or {})
        for name, cfg in hooks.items():
            if cfg is None:
                continue
            try:
                self.register_hook(cfg)
            except ConfigError as exc:
                raise ConfigError(f"default_hooks.{name}: {exc}") from exc
        for i, cfg in enumerate(custom_hooks or []):
            try:
                self.register_hook(cfg)
            except ConfigError as exc:
                raise ConfigError(f"custom_hooks[{i}]: {exc}") from exc

    def call_hook(self, name: str, **kwargs: Any) -> None:
        """Call ``name`` on every hook in priority order."""
        for hook in self.hooks:
            getattr(hook, name)(self, **kwargs)

    # ---- lazily built parts ---------------------------------------------------------------------
    def build_dataloader(self, cfg: DataLoader | dict, where: str = "dataloader") -> DataLoader:
        """A DataLoader from a config dict; samplers get the run's seed."""
        return build_dataloader(cfg, seed=self.sampler_seed, where=where)

    @property
    def train_loop(self) -> Any:
        """The training loop (built on first use from ``train_cfg``)."""
        if self._train_loop is None:
            if self._train_cfg is None or self._train_dataloader is None:
                raise ConfigError("training needs train_cfg and train_dataloader in the config")
            cfg = dict(self._train_cfg)
            if "type" not in cfg:
                cfg["type"] = "EpochBasedTrainLoop" if cfg.pop("by_epoch", False) else "IterBasedTrainLoop"
            try:
                self._train_loop = LOOPS.build(cfg, runner=self, dataloader=self._train_dataloader)
            except ConfigError as exc:
                raise ConfigError(f"train_cfg: {exc}") from exc
        return self._train_loop

    def _eval_loop(self, mode: str) -> Any:
        cfg, loader, evaluator = ((self._val_cfg, self._val_dataloader, self._val_evaluator) if mode == "val"
                                  else (self._test_cfg, self._test_dataloader, self._test_evaluator))
        if cfg is None or loader is None or evaluator is None:
            return None
        cfg = dict(cfg)
        cfg.setdefault("type", "ValLoop" if mode == "val" else "TestLoop")
        try:
            return LOOPS.build(cfg, runner=self, dataloader=loader, evaluator=evaluator)
        except ConfigError as exc:
            raise ConfigError(f"{mode}_cfg: {exc}") from exc

    @property
    def val_loop(self) -> Any:
        """The validation loop, or None when the config has no val_cfg/val_dataloader/val_evaluator."""
        if self._val_loop is None:
            self._val_loop = self._eval_loop("val")
        return self._val_loop

    @property
    def test_loop(self) -> Any:
        """The test loop."""
        if self._test_loop is None:
            self._test_loop = self._eval_loop("test")
            if self._test_loop is None:
                raise ConfigError("testing needs test_cfg, test_dataloader and test_evaluator in the config")
        return self._test_loop

    @property
    def train_dataloader(self) -> DataLoader:
        """The training DataLoader."""
        return self.train_loop.dataloader

    @property
    def val_dataloader(self) -> DataLoader:
        """The validation DataLoader."""
        return self.val_loop.dataloader

    @property
    def test_dataloader(self) -> DataLoader:
        """The test DataLoader."""
        return self.test_loop.dataloader

    @property
    def iter(self) -> int:
        """Training iterations completed."""
        return self._train_loop.iter if self._train_loop is not None else 0

    @property
    def epoch(self) -> int:
        """Training epochs completed."""
        return self._train_loop.epoch if self._train_loop is not None else 0

    @property
    def max_iters(self) -> int:
        """Total training iterations."""
        return self.train_loop.max_iters

    @property
    def max_epochs(self) -> int:
        """Total training epochs."""
        return self.train_loop.max_epochs

    @property
    def dataset_meta(self) -> dict | None:
        """``metainfo`` (classes, palette) of the training or else the test dataset, if built."""
        for loop in (self._train_loop, self._val_loop, self._test_loop):
            meta = getattr(getattr(getattr(loop, "dataloader", None), "dataset", None), "metainfo", None)
            if meta is not None:
                return meta
        return None

    def _build_optimization(self) -> None:
        if self._optim_wrapper_cfg is None:
            raise ConfigError("training needs optim_wrapper in the config")
        try:
            self.optim_wrapper = build_optim_wrapper(self.model, self._optim_wrapper_cfg)
        except ConfigError as exc:
            raise ConfigError(f"optim_wrapper: {exc}") from exc
        cfgs = self._param_scheduler_cfg
        cfgs = [cfgs] if isinstance(cfgs, (Mapping, ParamScheduler)) else list(cfgs or [])
        converted = []
        for cfg in cfgs:
            if isinstance(cfg, Mapping) and cfg.get("by_epoch", True):
                cfg = dict(cfg)
                if cfg.pop("convert_to_iter_based", False):  # epochs -> iterations, as in MMEngine
                    n = len(self.train_loop.dataloader)
                    cfg.update(by_epoch=False, begin=int(cfg.get("begin", 0) * n))
                    if "end" in cfg:
                        cfg["end"] = int(cfg["end"] * n)
                    if cfg.get("T_max"):
                        cfg["T_max"] = int(cfg["T_max"] * n)
                elif type(self.train_loop).__name__ == "IterBasedTrainLoop":
                    raise ConfigError(f"param_scheduler {cfg.get('type')}: by_epoch=True (the default) in an "
                                      "iteration-based run never steps; set by_epoch=False")
            converted.append(cfg)
        self.param_schedulers = build_param_schedulers(converted, self.optim_wrapper)

    # ---- running ---------------------------------------------------------------------------------
    def train(self) -> nn.Module:
        """Train (resuming or loading weights as configured) and return the model."""
        loop = self.train_loop
        self._build_optimization()
        _ = self.val_loop  # build early: config errors surface before training starts
        if self.resume_from:
            path = self.resume_from if isinstance(self.resume_from, str) else self.load_from
            path = path or self.find_last_checkpoint()
            if path:
                self.resume(path)
            else:
                self.logger.info("resume=True but no checkpoint in %s; starting from scratch", self.work_dir)
                self._maybe_load_from()
        else:
            self._maybe_load_from()
        self.optim_wrapper.initialize_count_status(self.model, loop.iter, loop.max_iters)
        self.logger.info("environment:\n" + "\n".join(f"    {k}: {v}" for k, v in self.environment().items()))
        self.call_hook("before_run")
        self.logger.info(f"training {type(self.model).__name__} for {loop.max_iters} iterations on {self.device}; "
                         f"seed {self.seed}; work_dir {self.work_dir}")
        loop.run()
        self.call_hook("after_run")
        return self.model

    def environment(self) -> dict[str, str]:
        """Versions and devices of this run (logged at the start of training)."""
        info = collect_env()
        info["distributed"] = f"launcher={self.launcher} world_size={self.world_size}"
        info["device"] = str(self.device)
        return info

    def val(self) -> dict[str, float]:
        """Run the validation loop once."""
        if self.val_loop is None:
            raise ConfigError("validation needs val_cfg, val_dataloader and val_evaluator in the config")
        self._maybe_load_from()
        self.call_hook("before_run")
        metrics = self.val_loop.run()
        self.call_hook("after_run")
        return metrics

    def test(self) -> dict[str, float]:
        """Load ``load_from`` (if set), run the test loop and return the metrics."""
        loop = self.test_loop
        self._maybe_load_from()
        self.call_hook("before_run")
        metrics = loop.run()
        self.call_hook("after_run")
        return metrics

    def _maybe_load_from(self) -> None:
        if self.load_from:
            self.load_checkpoint(self.load_from)

    # ---- checkpoints ----------------------------------------------------------------------------
    def _bare_model(self) -> nn.Module:
        return self.model.module if hasattr(self.model, "module") else self.model

    def load_checkpoint(self, filename: str, map_location: str = "cpu", strict: bool = False) -> dict:
        """Load weights into the model (no optimizer/iteration state) and return the checkpoint."""
        checkpoint = load_checkpoint(self._bare_model(), filename, map_location=map_location, strict=strict,
                                     logger=self.logger)
        self.call_hook("after_load_checkpoint", checkpoint=checkpoint)
        self.logger.info(f"loaded weights from {filename}")
        return checkpoint

    def find_last_checkpoint(self) -> str | None:
        """The path in ``work_dir/last_checkpoint``, if that file exists and points to a file."""
        pointer = osp.join(self.work_dir, "last_checkpoint")
        if not osp.isfile(pointer):
            return None
        with open(pointer, encoding="utf-8") as f:
            path = f.read().strip()
        return path if osp.isfile(path) else None

    def save_checkpoint(self, out_dir: str, filename: str, save_optimizer: bool = True,
                        save_param_scheduler: bool = True, meta: dict | None = None,
                        update_pointer: bool = True) -> str:
        """Write weights, optimizer/scheduler/RNG state and JSON-safe meta to ``out_dir/filename`` atomically."""
        checkpoint = training_state(self, save_optimizer, save_param_scheduler, meta)
        self.call_hook("before_save_checkpoint", checkpoint=checkpoint)
        path = osp.join(out_dir, filename)
        if self.rank == 0:
            save_checkpoint(checkpoint, path)
            if update_pointer:
                pointer = osp.join(self.work_dir, "last_checkpoint")
                _atomic_write(pointer, lambda f: f.write(osp.abspath(path).encode()))
            self.logger.info(f"saved checkpoint {path}")
        return path

    def _train_sampler(self) -> Any:
        loader = getattr(self._train_loop, "dataloader", None)
        return getattr(loader, "sampler", None)

    def restore_rng_after_loader(self) -> None:
        """Apply RNG states of a resumed checkpoint (after the data iterator has taken its own seed)."""
        state, self._rng_to_restore = self._rng_to_restore, None
        if state:
            set_rng_state(state)

    def resume(self, filename: str) -> None:
        """Restore weights, optimizer, schedulers, iteration counters and RNG states from a checkpoint."""
        checkpoint = load_state_dict_file(filename, map_location="cpu")
        restore_training_state(self, checkpoint)
        self.call_hook("after_load_checkpoint", checkpoint=checkpoint)
        self.logger.info(f"resumed from {filename} at iteration {self.train_loop.iter}")
