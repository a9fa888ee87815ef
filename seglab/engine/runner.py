"""Runner: runs the training, validation and test loops of built parts and calls the hooks around them."""
from __future__ import annotations

import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn
from torch.utils.data import DataLoader

from seglab.config import bool_switch
from seglab.registry import ConfigError
from seglab.unused_arguments import warn_unused

from . import allocator
from .builders import (
    RUNTIME_KEYS,
    LoopFactory,
    TrainParts,
    build_hook,
    build_hooks,
    build_model,
    build_visualizer,
    resolve_cfg,
)
from .checkpoint import _atomic_write, load_checkpoint, load_state_dict_file, save_checkpoint
from .hooks import Hook
from .logging import MessageHub
from .optim import OptimWrapper
from .run_context import RunContext, setup_run
from .runtime import import_modules
from .schedulers import ParamScheduler
from .training_state import restore_training_state, training_state

__all__ = ["RUNTIME_KEYS", "Runner"]



class Runner:
    """Runs loops and hooks over built parts; ``Runner.from_cfg(cfg)`` builds them from a config.

    Output goes to ``work_dir``: checkpoints and ``last_checkpoint``, the resolved config
    ``<config name>.py``, and ``<timestamp>/`` with the log file and ``vis_data/scalars.json``.
    """

    def __init__(self, ctx: RunContext, model: nn.Module, loops: LoopFactory, hooks: Sequence[Hook] = (),
                 visualizer: Any = None, load_from: str | None = None, resume: bool | str = False,
                 cfg: Any = None) -> None:
        self.ctx = ctx
        self.rank, self.world_size, self.device, self.launcher = ctx.rank, ctx.world_size, ctx.device, ctx.launcher
        self.work_dir, self.log_dir, self.timestamp = ctx.work_dir, ctx.log_dir, ctx.timestamp
        self.logger, self.seed, self.experiment_name = ctx.logger, ctx.seed, ctx.experiment_name
        self.model = model
        self.visualizer = visualizer
        self.load_from = load_from
        self.resume_from = resume
        self.cfg = cfg  # the Config whose text goes into checkpoint meta, if any
        self.message_hub = MessageHub()
        self.should_stop = False  # set by hooks (e.g. early stopping) to end training after this iteration
        self.hooks: list[Hook] = []
        for hook in hooks:
            self.register_hook(hook)
        self._loops = loops
        self._train: TrainParts | None = None
        self._val_loop: Any = None
        self._test_loop: Any = None

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any], device: str | None = None) -> Runner:
        """Set up the process and build every part from its config key (a Config or a plain dict)."""
        c = resolve_cfg(cfg)
        import_modules(c.get("custom_imports"))
        ctx = setup_run(c, device)
        if bool_switch(c, "retain_heap") and ctx.device.type == "cpu":
            allocator.retain_freed_memory()  # process-wide: freed tensors' memory stays mapped for the next ones
        warn_unused("Runner", default_scope=c.get("default_scope", "mmseg"), log_processor=c.get("log_processor"))
        model = build_model(c["model"], ctx, c.get("model_wrapper_cfg"), c.get("compile", False),
                            bool(c.get("channels_last", False)), bool_switch(c, "winograd_conv"))
        visualizer = build_visualizer(c.get("visualizer"), ctx)
        hooks = build_hooks(c.get("default_hooks"), c.get("custom_hooks"))
        config = cfg if hasattr(cfg, "pretty_text") else None
        runner = cls(ctx, model, LoopFactory(c, model, ctx), hooks, visualizer, load_from=c.get("load_from"),
                     resume=c.get("resume", False), cfg=config)
        if config is not None and ctx.rank == 0:
            runner.dump_config(config)
        return runner

    def dump_config(self, cfg: Any) -> None:
        """Write the resolved config to ``work_dir/<config name>.py`` and give it to the visualizer."""
        name = osp.splitext(osp.basename(getattr(cfg, "filename", None) or "config.py"))[0] + ".py"
        if hasattr(cfg, "dump"):
            cfg.dump(osp.join(self.work_dir, name))
        if self.visualizer is not None:
            self.visualizer.add_config(cfg)

    # ---- hooks -----------------------------------------------------------------------------------
    def register_hook(self, hook: Hook | dict, priority: int | str | None = None) -> None:
        """Add a hook (object or config; a config's ``priority`` key overrides the class default)."""
        hook = build_hook(hook, priority)
        index = len(self.hooks)
        while index > 0 and self.hooks[index - 1].priority > hook.priority:
            index -= 1  # stable: equal priorities keep registration order
        self.hooks.insert(index, hook)

    def call_hook(self, name: str, **kwargs: Any) -> None:
        """Call ``name`` on every hook in priority order."""
        for hook in self.hooks:
            getattr(hook, name)(self, **kwargs)

    def _stop_requested(self) -> bool:
        return self.should_stop

    # ---- loops (built on first use) ----------------------------------------------------------------
    def _train_parts(self) -> TrainParts:
        if self._train is None:
            self._train = self._loops.train(self.call_hook, self._stop_requested, self.val_loop)
        return self._train

    @property
    def train_loop(self) -> Any:
        """The training loop (built on first use from ``train_cfg``, with its optim wrapper and schedulers)."""
        return self._train_parts().loop

    @property
    def val_loop(self) -> Any:
        """The validation loop, or None when the config has no val_cfg/val_dataloader/val_evaluator."""
        if self._val_loop is None:
            self._val_loop = self._loops.eval("val", self.call_hook)
        return self._val_loop

    @property
    def test_loop(self) -> Any:
        """The test loop."""
        if self._test_loop is None:
            self._test_loop = self._loops.eval("test", self.call_hook)
            if self._test_loop is None:
                raise ConfigError("testing needs test_cfg, test_dataloader and test_evaluator in the config")
        return self._test_loop

    @property
    def optim_wrapper(self) -> OptimWrapper | None:
        """The optim wrapper (None until the training loop is built)."""
        return self._train.optim_wrapper if self._train is not None else None

    @property
    def param_schedulers(self) -> list[ParamScheduler]:
        """The parameter schedulers (empty until the training loop is built)."""
        return self._train.param_schedulers if self._train is not None else []

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
        return self._train.loop.iter if self._train is not None else 0

    @property
    def epoch(self) -> int:
        """Training epochs completed."""
        return self._train.loop.epoch if self._train is not None else 0

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
        loops = (self._train.loop if self._train else None, self._val_loop, self._test_loop)
        for loop in loops:
            meta = getattr(getattr(getattr(loop, "dataloader", None), "dataset", None), "metainfo", None)
            if meta is not None:
                return meta
        return None

    # ---- running ---------------------------------------------------------------------------------
    def train(self) -> nn.Module:
        """Train (resuming or loading weights as configured) and return the model."""
        loop = self.train_loop  # builds the validation loop too: config errors surface before training
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
        return self.ctx.environment()

    def val(self) -> dict[str, float]:
        """Run the validation loop once."""
        if self.val_loop is None:
            raise ConfigError("validation needs val_cfg, val_dataloader and val_evaluator in the config")
        return self._run_eval(self.val_loop)

    def test(self) -> dict[str, float]:
        """Load ``load_from`` (if set), run the test loop and return the metrics."""
        return self._run_eval(self.test_loop)

    def _run_eval(self, loop: Any) -> dict[str, float]:
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
        run_meta = dict(seed=self.seed, experiment_name=self.experiment_name, dataset_meta=self.dataset_meta,
                        cfg=getattr(self.cfg, "pretty_text", None))
        checkpoint = training_state(
            self._bare_model(), loop=self._train.loop if self._train else None,
            optim_wrapper=self.optim_wrapper if save_optimizer else None,
            param_schedulers=self.param_schedulers if save_param_scheduler else (),
            message_hub=self.message_hub, meta=dict(run_meta, **(meta or {})))
        self.call_hook("before_save_checkpoint", checkpoint=checkpoint)
        path = osp.join(out_dir, filename)
        if self.rank == 0:
            save_checkpoint(checkpoint, path)
            if update_pointer:
                pointer = osp.join(self.work_dir, "last_checkpoint")
                _atomic_write(pointer, lambda f: f.write(osp.abspath(path).encode()))
            self.logger.info(f"saved checkpoint {path}")
        return path

    def resume(self, filename: str) -> None:
        """Restore weights, optimizer, schedulers, iteration counters and RNG states from a checkpoint."""
        checkpoint = load_state_dict_file(filename, map_location="cpu")
        parts = self._train_parts()
        restore_training_state(checkpoint, self._bare_model(), parts.loop, parts.optim_wrapper,
                               parts.param_schedulers, self.message_hub)
        self.call_hook("after_load_checkpoint", checkpoint=checkpoint)
        self.logger.info(f"resumed from {filename} at iteration {parts.loop.iter}")
