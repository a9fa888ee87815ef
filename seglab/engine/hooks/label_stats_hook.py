"""LabelStatsHook: warns about training labels that make a run learn nothing useful.

Two cheap checks on ``data_batch['data_samples'][i].gt_sem_seg.data`` (a bincount per batch):
more than half of a batch's pixels equal to ``ignore_index`` (typically 0/255 binary masks read with
255 = ignore), and, after one pass over the training data, classes that never appeared.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist

from seglab.registry import HOOKS

from .hook import Hook

__all__ = ["LabelStatsHook"]

_log = logging.getLogger("seglab")
_FIX = ("if 255 marks a foreground class (0/255 masks), map it with label_map={255: 1} in the dataset or "
        "convert the masks once with `seglab dataset-convert binary-mask`")


def _labels(data_batch: Any) -> list[torch.Tensor]:
    samples = data_batch.get("data_samples") if isinstance(data_batch, Mapping) else None
    out = []
    for sample in samples or []:
        gt = getattr(sample, "gt_sem_seg", None)
        data = getattr(gt, "data", None)
        if isinstance(data, torch.Tensor):
            out.append(data)
    return out


def _names(classes: Sequence[str], ids: Sequence[int]) -> str:
    return ", ".join(f"{classes[i]} ({i})" if i < len(classes) else str(i) for i in ids)


@HOOKS.register_module()
class LabelStatsHook(Hook):
    """Warns once when over ``max_ignore_fraction`` of a batch's label pixels are ``ignore_index``, and once
    (after ``len(train_dataloader)`` iterations, i.e. the first epoch, or at the end of a shorter run) listing
    the classes that never appeared in the labels.

    The runner registers it in every training run; ``default_hooks=dict(label_stats=None)`` turns it off.
    ``ignore_index``/``num_classes`` default to the model's decode head and the dataset's classes.
    """

    priority = "LOW"

    def __init__(self, max_ignore_fraction: float = 0.5, ignore_index: int | None = None,
                 num_classes: int | None = None) -> None:
        if not 0.0 <= max_ignore_fraction <= 1.0:
            raise ValueError(f"LabelStatsHook: max_ignore_fraction must be in [0, 1], got {max_ignore_fraction}")
        self.max_ignore_fraction = max_ignore_fraction
        self.ignore_index = ignore_index
        self.num_classes = num_classes
        self._counts: torch.Tensor | None = None  # pixels per class id over the first pass
        self._class_names: list[str] | None = None
        self._ignored = 0
        self._total = 0
        self._batches = 0
        self._ignore_warned = False
        self._absent_reported = False

    # -- what the labels mean ----------------------------------------------------------------------
    @staticmethod
    def _head(runner: Any) -> Any:
        model = getattr(runner, "model", None)
        model = getattr(model, "module", model)
        head = getattr(model, "decode_head", None)
        return head[-1] if isinstance(head, torch.nn.ModuleList) else head

    def _ignore(self, runner: Any) -> int:
        if self.ignore_index is None:
            self.ignore_index = int(getattr(self._head(runner), "ignore_index", 255))
        return self.ignore_index

    def _classes(self, runner: Any) -> list[str]:
        if self._class_names is None:  # read once: dataset_meta is a deep copy each time
            meta = getattr(runner, "dataset_meta", None) or {}
            classes = list(meta.get("classes") or [])
            if self.num_classes is None:
                self.num_classes = len(classes) or getattr(self._head(runner), "num_classes", None)
            n = self.num_classes or 0
            self._class_names = classes if len(classes) == n else [str(i) for i in range(n)]
        return self._class_names

    # -- hook points -------------------------------------------------------------------------------
    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        if self._absent_reported and self._ignore_warned:
            return
        labels = _labels(data_batch)
        if not labels:
            return
        ignore = self._ignore(runner)
        ignored = sum(int((gt == ignore).sum()) for gt in labels)
        total = sum(gt.numel() for gt in labels)
        if not self._ignore_warned and total and ignored > self.max_ignore_fraction * total:
            self._ignore_warned = True
            _log.warning(f"LabelStatsHook: {100 * ignored / total:.1f}% of the label pixels in this batch equal "
                         f"ignore_index={ignore} and add nothing to the loss; {_FIX}")
        if self._absent_reported:
            return
        self._ignored += ignored
        self._total += total
        self._classes(runner)
        k = int(self.num_classes or 0)
        if k <= 0:
            return
        counts = self._counts if self._counts is not None else torch.zeros(k, dtype=torch.int64)
        for gt in labels:
            values = gt.flatten().long()
            values = values[(values >= 0) & (values < k)]  # ignore_index and stray values are not classes
            counts += torch.bincount(values.cpu(), minlength=k)[:k]
        self._counts = counts

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                         outputs: dict | None = None) -> None:
        if self._absent_reported:
            return
        self._batches += 1
        loader = getattr(getattr(runner, "train_loop", None), "dataloader", None)
        try:
            per_pass = len(loader) if loader is not None else 0
        except TypeError:  # an iterable without a length: only the end of training reports
            per_pass = 0
        if per_pass and self._batches >= per_pass:
            self._report(runner, partial=False)

    def after_train(self, runner: Any) -> None:
        if not self._absent_reported and self._batches:
            self._report(runner, partial=True)

    def _report(self, runner: Any, partial: bool) -> None:
        self._absent_reported = True
        if self._counts is None:
            return
        counts = self._counts.clone()
        stats = torch.tensor([self._ignored, self._total], dtype=torch.int64)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            # Every rank saw its own share of the data; every rank reaches this point in the same iteration.
            device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
            counts, stats = counts.to(device), stats.to(device)
            dist.all_reduce(counts)
            dist.all_reduce(stats)
            counts, stats = counts.cpu(), stats.cpu()
        absent = [i for i, c in enumerate(counts.tolist()) if c == 0]
        if not absent or getattr(runner, "rank", 0) != 0:
            return
        classes = self._classes(runner)
        scope = f"the first {self._batches} training batches" if partial else "one pass over the training data"
        message = (f"LabelStatsHook: {len(absent)} of {len(counts)} classes never appeared in the labels of {scope}: "
                   f"{_names(classes, absent)}; they cannot be learned and their IoU will be nan or 0.")
        ignored, total = stats.tolist()
        if ignored and self.ignore_index is not None:
            message += (f" {100 * ignored / max(total, 1):.1f}% of the label pixels equal ignore_index="
                        f"{self.ignore_index}; {_FIX}")
        else:
            message += " Check num_classes/classes, reduce_zero_label and the label maps"
        _log.warning(message)
