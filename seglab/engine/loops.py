"""Training loops (iteration- and epoch-based) and the validation/test loops, registered in LOOPS."""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader

from seglab.registry import LOOPS, METRICS, ConfigError

__all__ = ["EpochBasedTrainLoop", "Evaluator", "IterBasedTrainLoop", "TestLoop", "ValLoop"]


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


def _run_step(runner: Any, data_batch: Any) -> dict[str, float]:
    """One optimisation step: the model preprocesses, computes losses, and ``optim_wrapper`` updates."""
    return runner.model.train_step(data_batch, optim_wrapper=runner.optim_wrapper)


def _after_iter(runner: Any, idx: int, data_batch: Any, outputs: dict) -> None:
    """The after_train_iter hooks; meanwhile the step is done but not yet counted in ``runner.iter``.

    ``runner.iter_finished`` tells ``Runner.save_checkpoint`` to record this iteration as done, so a
    checkpoint written by any hook here resumes at the next iteration (none is repeated).
    """
    runner.iter_finished = True
    try:
        runner.call_hook("after_train_iter", batch_idx=idx, data_batch=data_batch, outputs=outputs)
    finally:
        runner.iter_finished = False


@LOOPS.register_module()
class IterBasedTrainLoop:
    """Train for ``max_iters`` iterations; validate every ``val_interval`` iterations from ``val_begin`` on."""

    def __init__(self, runner: Any, dataloader: DataLoader | dict, max_iters: int, val_begin: int = 1,
                 val_interval: int = 1000, dynamic_intervals: list | None = None) -> None:
        if max_iters < 1:
            raise ConfigError(f"train_cfg.max_iters must be >= 1, got {max_iters}")
        if dynamic_intervals:
            raise ConfigError("train_cfg.dynamic_intervals is not supported; use a fixed val_interval")
        self.runner = runner
        self.dataloader = runner.build_dataloader(dataloader, "train_dataloader")
        self.max_iters = int(max_iters)
        self.val_begin = val_begin
        self.val_interval = val_interval
        self.iter = 0
        self.epoch = 0

    @property
    def max_epochs(self) -> int:
        """Iteration-based training has one (endless) epoch."""
        return 1

    def run(self) -> None:
        """Iterate until ``max_iters``; each iteration runs the hooks around one step."""
        runner = self.runner
        runner.call_hook("before_train")
        sampler = getattr(self.dataloader, "sampler", None)
        if self.iter > 0 and hasattr(sampler, "skip"):
            sampler.skip(self.iter * self.dataloader.batch_size)  # continue the same sample stream
        data = _EndlessIterator(self.dataloader)
        runner.restore_rng_after_loader()
        while self.iter < self.max_iters:
            runner.model.train()
            data_batch = next(data)
            self.run_iter(self.iter, data_batch)
            if (runner.val_loop is not None and self.val_interval > 0 and self.iter >= self.val_begin
                    and (self.iter % self.val_interval == 0 or self.iter == self.max_iters)):
                runner.val_loop.run()
            if runner.should_stop:
                break
        runner.call_hook("after_train")

    def run_iter(self, idx: int, data_batch: Any) -> None:
        """Hooks around one training step; the iteration counter moves after the hooks."""
        self.runner.call_hook("before_train_iter", batch_idx=idx, data_batch=data_batch)
        outputs = _run_step(self.runner, data_batch)
        _after_iter(self.runner, idx, data_batch, outputs)
        self.iter += 1


@LOOPS.register_module()
class EpochBasedTrainLoop:
    """Train for ``max_epochs`` passes over the data; validate every ``val_interval`` epochs from ``val_begin``."""

    def __init__(self, runner: Any, dataloader: DataLoader | dict, max_epochs: int, val_begin: int = 1,
                 val_interval: int = 1, dynamic_intervals: list | None = None) -> None:
        if max_epochs < 1:
            raise ConfigError(f"train_cfg.max_epochs must be >= 1, got {max_epochs}")
        if dynamic_intervals:
            raise ConfigError("train_cfg.dynamic_intervals is not supported; use a fixed val_interval")
        self.runner = runner
        self.dataloader = runner.build_dataloader(dataloader, "train_dataloader")
        self.max_epochs = int(max_epochs)
        self.max_iters = self.max_epochs * len(self.dataloader)
        self.val_begin = val_begin
        self.val_interval = val_interval
        self.iter = 0
        self.epoch = 0

    def run(self) -> None:
        """Run the remaining epochs."""
        runner = self.runner
        runner.call_hook("before_train")
        while self.epoch < self.max_epochs and not runner.should_stop:
            self.run_epoch()
            if (runner.val_loop is not None and self.val_interval > 0 and self.epoch >= self.val_begin
                    and (self.epoch % self.val_interval == 0 or self.epoch == self.max_epochs)):
                runner.val_loop.run()
        runner.call_hook("after_train")

    def run_epoch(self) -> None:
        """One pass over the training data (after a mid-epoch resume: the rest of it)."""
        runner = self.runner
        runner.call_hook("before_train_epoch")
        runner.model.train()
        start = self.iter - self.epoch * len(self.dataloader)  # > 0 only right after a mid-epoch resume
        sampler = getattr(self.dataloader, "sampler", None)
        if start > 0 and hasattr(sampler, "skip"):
            sampler.skip(start * (self.dataloader.batch_size or 1))  # no loading (and no RNG draws) for done batches
            skipped = start
        else:
            skipped = 0
        batches = iter(self.dataloader)
        runner.restore_rng_after_loader()  # after the iterator took its seed, as in the iteration-based loop
        for idx, data_batch in enumerate(batches, start=skipped):
            if idx < start:
                continue
            runner.call_hook("before_train_iter", batch_idx=idx, data_batch=data_batch)
            outputs = _run_step(runner, data_batch)
            _after_iter(runner, idx, data_batch, outputs)
            self.iter += 1
            if runner.should_stop:
                break
        runner.call_hook("after_train_epoch")
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

    def __init__(self, runner: Any, dataloader: DataLoader | dict, evaluator: Any, fp16: bool = False) -> None:
        self.runner = runner
        self.dataloader = runner.build_dataloader(dataloader, f"{self.mode}_dataloader")
        self.evaluator = evaluator if isinstance(evaluator, Evaluator) else Evaluator(evaluator)
        meta = getattr(self.dataloader.dataset, "metainfo", None)
        if meta is not None:
            self.evaluator.dataset_meta = meta
        self.fp16 = fp16
        self.compute_loss = False

    def _predict(self, step: Any, data_batch: Any) -> list:
        groups = None if _pads_at_test_time(self.runner.model) else _split_by_size(data_batch)
        if groups is None:
            return step(data_batch)
        outputs: list = [None] * sum(len(g) for g in groups)
        for indices in groups:
            for i, out in zip(indices, step(_sub_batch(data_batch, indices))):
                outputs[i] = out
        return outputs

    def _loss(self, data_batch: Any) -> tuple[float, int]:
        """Sum of the model's loss terms on ``data_batch`` (eval mode) and the number of images."""
        model = getattr(self.runner.model, "module", self.runner.model)
        total, count = 0.0, 0
        for indices in _split_by_size(data_batch) or [list(range(len(data_batch["inputs"])))]:
            sub = _sub_batch(data_batch, indices)
            data = model.data_preprocessor(sub, False)
            inputs, samples = data["inputs"], data["data_samples"]
            h, w = inputs.shape[-2:]
            for sample in samples:  # labels padded like the images (ignored pixels)
                gt = sample.gt_sem_seg.data
                if tuple(gt.shape[-2:]) != (h, w):
                    pad = (0, w - gt.shape[-1], 0, h - gt.shape[-2])
                    sample.gt_sem_seg.data = torch.nn.functional.pad(gt, pad, value=255)
            loss, _ = model.parse_losses(model(inputs, samples, mode="loss"))
            total += float(loss) * len(indices)
            count += len(indices)
        return total, count

    def run(self) -> dict[str, float]:
        """Evaluate the model on the whole dataloader and return the metrics."""
        runner, mode = self.runner, self.mode
        runner.call_hook(f"before_{mode}")
        runner.call_hook(f"before_{mode}_epoch")
        was_training = runner.model.training
        runner.model.eval()
        step = runner.model.val_step if mode == "val" else runner.model.test_step
        loss_sum, loss_count = 0.0, 0
        bare = getattr(runner.model, "module", runner.model)
        # Only segmentors (a data preprocessor and loss parsing) have a loss to report.
        compute_loss = self.compute_loss and all(hasattr(bare, a) for a in ("data_preprocessor", "parse_losses"))
        for idx, data_batch in enumerate(self.dataloader):
            runner.call_hook(f"before_{mode}_iter", batch_idx=idx, data_batch=data_batch)
            with torch.no_grad(), torch.autocast(runner.device.type, enabled=self.fp16):
                outputs = self._predict(step, data_batch)
                if compute_loss and isinstance(data_batch, Mapping) and "data_samples" in data_batch:
                    total, count = self._loss(data_batch)
                    loss_sum, loss_count = loss_sum + total, loss_count + count
            self.evaluator.process(data_batch, outputs)
            runner.call_hook(f"after_{mode}_iter", batch_idx=idx, data_batch=data_batch, outputs=outputs)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        if compute_loss:
            from .distributed import all_reduce_mean

            mean = loss_sum / max(loss_count, 1)
            metrics[f"{mode}/loss"] = all_reduce_mean({"loss": mean}, weight=loss_count)["loss"]
        runner.call_hook(f"after_{mode}_epoch", metrics=metrics)
        runner.call_hook(f"after_{mode}")
        runner.model.train(was_training)
        return metrics


@LOOPS.register_module()
class ValLoop(_EvalLoop):
    """Validation over ``val_dataloader`` with ``val_evaluator``; also logs the mean loss as ``val/loss``.

    ``compute_loss=False`` skips the extra loss forward (a whole-image pass per batch).
    """

    mode = "val"

    def __init__(self, runner: Any, dataloader: DataLoader | dict, evaluator: Any, fp16: bool = False,
                 compute_loss: bool = True) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        self.compute_loss = bool(compute_loss)


@LOOPS.register_module()
class TestLoop(_EvalLoop):
    """Testing over ``test_dataloader`` with ``test_evaluator``."""

    mode = "test"
