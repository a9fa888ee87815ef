"""Training loops (iteration- and epoch-based) and the validation/test loops, registered in LOOPS."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader

from seglab.models.depthwise import blocked_depthwise
from seglab.models.fuse import fuse_conv_bn
from seglab.models.winograd import winograd_conv
from seglab.registry import LOOPS, METRICS, ConfigError

from .optim import OptimWrapper
from .runtime import set_rng_state

__all__ = ["BaseTrainLoop", "EpochBasedTrainLoop", "Evaluator", "HookCaller", "IterBasedTrainLoop", "TestLoop", "ValLoop", "run_step"]


class HookCaller(Protocol):
    """Runs one hook stage (``'before_train_iter'``, ...) on every hook, e.g. ``Runner.call_hook``."""

    def __call__(self, name: str, **kwargs: Any) -> None: ...


class Evaluator:
    """One or more metrics fed together: ``process(batch, outputs)`` then ``evaluate(size)`` -> merged dict."""

    def __init__(self, metrics: Mapping | Sequence[Mapping] | Any) -> None:
        items = [metrics] if isinstance(metrics, Mapping) or not isinstance(metrics, Sequence) else list(metrics)
        self.metrics = [METRICS.build(m) for m in items]

    @property
    def dataset_meta(self) -> dict | None:
        """The dataset meta given to every metric."""
        return self.metrics[0].dataset_meta if self.metrics else None

    @dataset_meta.setter
    def dataset_meta(self, meta: dict | None) -> None:
        for metric in self.metrics:
            metric.dataset_meta = meta

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Feed a batch's predictions to every metric."""
        for metric in self.metrics:
            metric.process(data_batch, data_samples)

    def evaluate(self, size: int) -> dict[str, float]:
        """Metrics of everything processed; a key produced twice is an error."""
        out: dict[str, float] = {}
        for metric in self.metrics:
            result = metric.evaluate(size)
            clash = set(result) & set(out)
            if clash:
                raise ConfigError(f"evaluator: several metrics produce {sorted(clash)}; give them a prefix")
            out.update(result)
        return out


class _EndlessIterator:
    """Iterates a DataLoader forever, restarting it (a new epoch) when it ends."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader
        self.epoch = 0
        # Created now, not on first use: creating it draws from torch's RNG, and a resumed run restores
        # the RNG states after this point.
        self._it: Iterator = iter(loader)

    def __next__(self) -> Any:
        try:
            return next(self._it)
        except StopIteration:
            self.epoch += 1
            sampler = getattr(self.loader, "sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(self.epoch)
            self._it = iter(self.loader)
            return next(self._it)


def run_step(model: nn.Module, data_batch: Any, optim_wrapper: OptimWrapper) -> dict[str, float]:
    """One training step: batch -> preprocess -> forward -> losses -> backward and step; returns the log values.

    ``model`` may be DDP-wrapped: the forward then goes through the wrapper, so gradients are
    all-reduced. A model without a data preprocessor brings its own ``train_step`` (MMEngine's contract).
    """
    bare = getattr(model, "module", model)
    if not (hasattr(bare, "data_preprocessor") and hasattr(bare, "parse_losses")):
        return model.train_step(data_batch, optim_wrapper=optim_wrapper)
    with optim_wrapper.optim_context(model):
        data = bare.data_preprocessor(data_batch, True)
        losses = model(**data, mode="loss") if isinstance(data, dict) else model(*data, mode="loss")
    loss, log_vars = bare.parse_losses(losses)
    optim_wrapper.update_params(loss)
    return log_vars


def _no_stop() -> bool:
    return False


class BaseTrainLoop:
    """What both training loops share: progress counters, the hooks around a step, validation timing.

    ``call_hook(name, **kwargs)`` runs a hook stage; ``should_stop()`` is asked after every
    iteration (a hook may end training early); ``val_loop`` (or None) runs every ``val_interval``
    iterations or epochs from ``val_begin`` on, and at the end.
    """

    def __init__(self, model: nn.Module, dataloader: DataLoader, optim_wrapper: OptimWrapper,
                 call_hook: HookCaller, val_loop: Any = None, should_stop: Callable[[], bool] = _no_stop,
                 val_begin: int = 1, val_interval: int = 1, dynamic_intervals: list | None = None) -> None:
        if dynamic_intervals:
            raise ConfigError("train_cfg.dynamic_intervals is not supported; use a fixed val_interval")
        if not isinstance(dataloader, DataLoader):
            raise TypeError(f"{type(self).__name__} needs a built DataLoader, got {type(dataloader).__name__}")
        self.model = model
        self.dataloader = dataloader
        self.optim_wrapper = optim_wrapper
        self.call_hook = call_hook
        self.val_loop = val_loop
        self.should_stop = should_stop
        self.val_begin = val_begin
        self.val_interval = val_interval
        self.iter = 0
        self.epoch = 0
        # True during the after_train_iter hooks: the step is done but not yet counted in ``iter``,
        # so a checkpoint written by a hook then resumes at the next iteration (none is repeated).
        self.step_done = False
        self._rng_state: dict | None = None

    # ---- progress state ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, int]:
        """Iterations and epochs done (a step whose after-iteration hooks are running counts as done)."""
        return {"iter": self.iter + int(self.step_done), "epoch": self.epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue after ``state['iter']`` iterations and ``state['epoch']`` epochs."""
        self.iter = int(state.get("iter", 0))
        self.epoch = int(state.get("epoch", 0))

    @property
    def sampler(self) -> Any:
        """The training data sampler."""
        return getattr(self.dataloader, "sampler", None)

    def sampler_state_dict(self) -> dict[str, Any] | None:
        """Where this rank's sample stream continues: the sampler's seed and the samples already drawn."""
        sampler = self.sampler
        if sampler is None:
            return None
        batch = self.dataloader.batch_size or 1
        own = sampler.state_dict() if hasattr(sampler, "state_dict") else {"seed": int(getattr(sampler, "seed", 0))}
        return dict(own, type=type(sampler).__name__, position=self.state_dict()["iter"] * batch, batch_size=batch,
                    world_size=int(getattr(sampler, "world_size", 1)))

    def load_sampler_state_dict(self, state: Mapping[str, Any] | None) -> None:
        """Give the sampler its saved state (seed); the position follows from ``iter`` when the loop starts."""
        if not state:
            return
        if hasattr(self.sampler, "load_state_dict"):
            self.sampler.load_state_dict(state)
        elif hasattr(self.sampler, "seed"):
            self.sampler.seed = int(state["seed"])

    def defer_rng_state(self, state: dict | None) -> None:
        """RNG states to apply when the loop starts, after the data iterator has drawn its own seed."""
        self._rng_state = state

    def _apply_deferred_rng(self) -> None:
        state, self._rng_state = self._rng_state, None
        if state:
            set_rng_state(state)

    # ---- running -----------------------------------------------------------------------------------
    def run_iter(self, idx: int, data_batch: Any) -> None:
        """The hooks around one training step; the iteration counter moves after the hooks."""
        self.call_hook("before_train_iter", batch_idx=idx, data_batch=data_batch)
        outputs = run_step(self.model, data_batch, self.optim_wrapper)
        self.step_done = True
        try:
            self.call_hook("after_train_iter", batch_idx=idx, data_batch=data_batch, outputs=outputs)
        finally:
            self.step_done = False
        self.iter += 1

    def _validate_after(self, count: int, total: int) -> None:
        """Run validation if ``count`` (iterations or epochs done) is a validation point."""
        if (self.val_loop is not None and self.val_interval > 0 and count >= self.val_begin
                and (count % self.val_interval == 0 or count == total)):
            self.val_loop.run()


@LOOPS.register_module()
class IterBasedTrainLoop(BaseTrainLoop):
    """Train for ``max_iters`` iterations; validate every ``val_interval`` iterations from ``val_begin`` on."""

    def __init__(self, model: nn.Module, dataloader: DataLoader, optim_wrapper: OptimWrapper, call_hook: HookCaller,
                 max_iters: int, val_begin: int = 1, val_interval: int = 1000, dynamic_intervals: list | None = None,
                 val_loop: Any = None, should_stop: Callable[[], bool] = _no_stop) -> None:
        if max_iters < 1:
            raise ConfigError(f"train_cfg.max_iters must be >= 1, got {max_iters}")
        super().__init__(model, dataloader, optim_wrapper, call_hook, val_loop, should_stop, val_begin, val_interval,
                         dynamic_intervals)
        self.max_iters = int(max_iters)

    @property
    def max_epochs(self) -> int:
        """Iteration-based training has one (endless) epoch."""
        return 1

    def run(self) -> None:
        """Iterate until ``max_iters``; each iteration runs the hooks around one step."""
        self.call_hook("before_train")
        if self.iter > 0 and hasattr(self.sampler, "skip"):
            self.sampler.skip(self.iter * self.dataloader.batch_size)  # continue the same sample stream
        data = _EndlessIterator(self.dataloader)
        self._apply_deferred_rng()
        while self.iter < self.max_iters:
            self.model.train()
            self.run_iter(self.iter, next(data))
            self._validate_after(self.iter, self.max_iters)
            if self.should_stop():
                break
        self.call_hook("after_train")


@LOOPS.register_module()
class EpochBasedTrainLoop(BaseTrainLoop):
    """Train for ``max_epochs`` passes over the data; validate every ``val_interval`` epochs from ``val_begin``."""

    def __init__(self, model: nn.Module, dataloader: DataLoader, optim_wrapper: OptimWrapper, call_hook: HookCaller,
                 max_epochs: int, val_begin: int = 1, val_interval: int = 1, dynamic_intervals: list | None = None,
                 val_loop: Any = None, should_stop: Callable[[], bool] = _no_stop) -> None:
        if max_epochs < 1:
            raise ConfigError(f"train_cfg.max_epochs must be >= 1, got {max_epochs}")
        super().__init__(model, dataloader, optim_wrapper, call_hook, val_loop, should_stop, val_begin, val_interval,
                         dynamic_intervals)
        self.max_epochs = int(max_epochs)
        self.max_iters = self.max_epochs * len(self.dataloader)

    def run(self) -> None:
        """Run the remaining epochs."""
        self.call_hook("before_train")
        while self.epoch < self.max_epochs and not self.should_stop():
            self.run_epoch()
            self._validate_after(self.epoch, self.max_epochs)
        self.call_hook("after_train")

    def run_epoch(self) -> None:
        """One pass over the training data (after a mid-epoch resume: the rest of it)."""
        self.call_hook("before_train_epoch")
        self.model.train()
        start = self.iter - self.epoch * len(self.dataloader)  # > 0 only right after a mid-epoch resume
        skipped = 0
        if start > 0 and hasattr(self.sampler, "skip"):
            self.sampler.skip(start * (self.dataloader.batch_size or 1))  # no loading (and no RNG draws) for done batches
            skipped = start
        batches = iter(self.dataloader)
        self._apply_deferred_rng()  # after the iterator took its seed, as in the iteration-based loop
        for idx, data_batch in enumerate(batches, start=skipped):
            if idx < start:
                continue
            self.run_iter(idx, data_batch)
            if self.should_stop():
                break
        self.call_hook("after_train_epoch")
        self.epoch += 1


def _split_by_size(data_batch: Any) -> list[list[int]] | None:
    """Indices of the batch grouped by image size, or None when all images share one size."""
    inputs = data_batch.get("inputs") if isinstance(data_batch, Mapping) else None
    if not isinstance(inputs, Sequence) or isinstance(inputs, torch.Tensor) or len(inputs) < 2:
        return None
    if not all(isinstance(img, torch.Tensor) for img in inputs):  # TTA batches: a list of views per image
        return None
    groups: dict[tuple, list[int]] = {}
    for i, img in enumerate(inputs):
        groups.setdefault(tuple(img.shape[-2:]), []).append(i)
    return list(groups.values()) if len(groups) > 1 else None


def _sub_batch(data_batch: Mapping, indices: list[int]) -> dict:
    return {k: ([v[i] for i in indices] if isinstance(v, Sequence) and not isinstance(v, str) else v)
            for k, v in data_batch.items()}


def _pads_at_test_time(model: Any) -> bool:
    """Whether the data preprocessor pads test batches itself (``test_cfg`` with size / size_divisor)."""
    pre = getattr(getattr(model, "module", model), "data_preprocessor", None)
    test_cfg = getattr(pre, "test_cfg", None) or {}
    return test_cfg.get("size") is not None or test_cfg.get("size_divisor") is not None


class _EvalLoop:
    """Shared body of ValLoop and TestLoop: predict every batch, feed the evaluator, compute metrics.

    A batch of images of different sizes is padded by the data preprocessor when its ``test_cfg``
    sets ``size``/``size_divisor`` (predictions are cropped back to each image); otherwise it runs as
    one forward per size group, so every prediction equals the batch-size-1 one.
    """

    mode = "val"

    def __init__(self, model: nn.Module, dataloader: DataLoader, evaluator: Any, call_hook: HookCaller,
                 device: str | torch.device = "cpu", fp16: bool = False, fuse_conv_bn: bool = True,
                 winograd_conv: bool = True, blocked_depthwise: bool = True) -> None:
        if not isinstance(dataloader, DataLoader):
            raise TypeError(f"{type(self).__name__} needs a built DataLoader, got {type(dataloader).__name__}")
        self.model = model
        self.dataloader = dataloader
        self.call_hook = call_hook
        self.device = torch.device(device)
        self.evaluator = evaluator if isinstance(evaluator, Evaluator) else Evaluator(evaluator)
        meta = getattr(self.dataloader.dataset, "metainfo", None)
        if meta is not None:
            self.evaluator.dataset_meta = meta
        self.fp16 = fp16
        self.fuse_conv_bn = bool(fuse_conv_bn)
        self.winograd_conv = bool(winograd_conv)
        self.blocked_depthwise = bool(blocked_depthwise)
        self.compute_loss = False

    def _inference_fast_paths(self, model: nn.Module) -> None:
        """Fold BatchNorm into the convs, route large 3x3 convs through Winograd and large depth-wise convs
        through the blocked path, for eval-mode forwards.

        Neither changes the state dict or training-mode forwards. A wrapped (DDP) or compiled model is
        left as it is: its forward is not the module's own.
        """
        if hasattr(model, "module") or "forward" in vars(model):
            return
        if self.fuse_conv_bn:
            fuse_conv_bn(model, inplace=True)
        if self.blocked_depthwise:
            blocked_depthwise(model, inplace=True)
        if self.winograd_conv:
            winograd_conv(model, inplace=True)

    def _predict(self, step: Any, data_batch: Any) -> list:
        groups = None if _pads_at_test_time(self.model) else _split_by_size(data_batch)
        if groups is None:
            return step(data_batch)
        outputs: list = [None] * sum(len(g) for g in groups)
        for indices in groups:
            for i, out in zip(indices, step(_sub_batch(data_batch, indices))):
                outputs[i] = out
        return outputs

    def _loss(self, data_batch: Any) -> tuple[float, int]:
        """Sum of the model's loss terms on ``data_batch`` (eval mode) and the number of images."""
        model = getattr(self.model, "module", self.model)
        total, count = 0.0, 0
        for indices in _split_by_size(data_batch) or [list(range(len(data_batch["inputs"])))]:
            sub = _sub_batch(data_batch, indices)
            data = model.data_preprocessor(sub, False)
            inputs, samples = data["inputs"], data["data_samples"]
            h, w = inputs.shape[-2:]
            for sample in samples:  # labels padded like the images (ignored pixels: 255, or depth 0 = no depth)
                for field, ignored in (("gt_sem_seg", 255), ("gt_depth_map", 0)):
                    gt = getattr(sample, field, None)
                    if gt is not None and tuple(gt.data.shape[-2:]) != (h, w):
                        pad = (0, w - gt.data.shape[-1], 0, h - gt.data.shape[-2])
                        gt.data = torch.nn.functional.pad(gt.data, pad, value=ignored)
            loss, _ = model.parse_losses(model(inputs, samples, mode="loss"))
            total += float(loss) * len(indices)
            count += len(indices)
        return total, count

    def run(self) -> dict[str, float]:
        """Evaluate the model on the whole dataloader and return the metrics."""
        model, mode = self.model, self.mode
        self.call_hook(f"before_{mode}")
        self.call_hook(f"before_{mode}_epoch")
        was_training = model.training
        model.eval()
        self._inference_fast_paths(model)
        step = model.val_step if mode == "val" else model.test_step
        loss_sum, loss_count = 0.0, 0
        bare = getattr(model, "module", model)
        # Only segmentors (a data preprocessor and loss parsing) have a loss to report.
        compute_loss = self.compute_loss and all(hasattr(bare, a) for a in ("data_preprocessor", "parse_losses"))
        for idx, data_batch in enumerate(self.dataloader):
            self.call_hook(f"before_{mode}_iter", batch_idx=idx, data_batch=data_batch)
            with torch.no_grad(), torch.autocast(self.device.type, enabled=self.fp16):
                outputs = self._predict(step, data_batch)
                if compute_loss and isinstance(data_batch, Mapping) and "data_samples" in data_batch:
                    total, count = self._loss(data_batch)
                    loss_sum, loss_count = loss_sum + total, loss_count + count
            self.evaluator.process(data_batch, outputs)
            self.call_hook(f"after_{mode}_iter", batch_idx=idx, data_batch=data_batch, outputs=outputs)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        if compute_loss:
            from .distributed import all_reduce_mean

            mean = loss_sum / max(loss_count, 1)
            metrics[f"{mode}/loss"] = all_reduce_mean({"loss": mean}, weight=loss_count)["loss"]
        self.call_hook(f"after_{mode}_epoch", metrics=metrics)
        self.call_hook(f"after_{mode}")
        model.train(was_training)
        return metrics


@LOOPS.register_module()
class ValLoop(_EvalLoop):
    """Validation over ``val_dataloader`` with ``val_evaluator``; also logs the mean loss as ``val/loss``.

    ``compute_loss=False`` skips the extra loss forward (a whole-image pass per batch).
    """

    mode = "val"

    def __init__(self, model: nn.Module, dataloader: DataLoader, evaluator: Any, call_hook: HookCaller,
                 device: str | torch.device = "cpu", fp16: bool = False, compute_loss: bool = True,
                 fuse_conv_bn: bool = True, winograd_conv: bool = True, blocked_depthwise: bool = True) -> None:
        super().__init__(model, dataloader, evaluator, call_hook, device, fp16, fuse_conv_bn, winograd_conv,
                         blocked_depthwise)
        self.compute_loss = bool(compute_loss)


@LOOPS.register_module()
class TestLoop(_EvalLoop):
    """Testing over ``test_dataloader`` with ``test_evaluator``."""

    mode = "test"
