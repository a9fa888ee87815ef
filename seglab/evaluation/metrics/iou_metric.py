"""IoUMetric: aAcc / mIoU / mAcc / mDice / mFscore from one accumulated confusion matrix (MMSeg-compatible)."""

from __future__ import annotations

import copy
import logging
import os
import os.path as osp
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import torch
import torch.distributed as dist

from seglab.registry import METRICS, ConfigError

from ...unused_arguments import warn_unused

__all__ = ["IoUMetric", "absent_classes_note", "confusion_counts_checked", "confusion_counts_on_device", "format_cell",
           "format_table", "metrics_from_confusion"]

logger = logging.getLogger("seglab")

_ALLOWED = ("mIoU", "mDice", "mFscore")
# Per-class columns each summary metric needs, in MMSeg's order.
_COLUMNS = {"mIoU": ("IoU", "Acc"), "mDice": ("Dice", "Acc"), "mFscore": ("Fscore", "Precision", "Recall")}


def metrics_from_confusion(
    confusion: torch.Tensor | np.ndarray, beta: float = 1, nan_to_num: float | None = None
) -> tuple[float, dict[str, np.ndarray]]:
    """Return (aAcc, per-class dict of IoU/Acc/Dice/Fscore/Precision/Recall) as fractions in [0, 1].

    ``confusion``: (K, K) counts, rows = ground truth, columns = prediction. A class absent from
    both ground truth and prediction gets NaN (0 / 0) unless ``nan_to_num`` replaces it.
    """
    conf = confusion.detach().cpu().double().numpy() if isinstance(confusion, torch.Tensor) else confusion
    conf = np.asarray(conf, dtype=np.float64)
    intersect = np.diag(conf)
    area_label = conf.sum(axis=1)
    area_pred = conf.sum(axis=0)
    union = area_label + area_pred - intersect
    with np.errstate(divide="ignore", invalid="ignore"):
        a_acc = intersect.sum() / area_label.sum()
        precision = intersect / area_pred
        recall = intersect / area_label
        per_class = {
            "IoU": intersect / union,
            "Acc": recall,
            "Dice": 2 * intersect / (area_pred + area_label),
            "Fscore": (1 + beta**2) * precision * recall / (beta**2 * precision + recall),
            "Precision": precision,
            "Recall": recall.copy(),
        }
    if nan_to_num is not None:
        a_acc = float(np.nan_to_num(a_acc, nan=nan_to_num))
        per_class = {k: np.nan_to_num(v, nan=nan_to_num) for k, v in per_class.items()}
    return float(a_acc), per_class


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Render a plain-text table with a header rule, e.g. for per-class results."""
    cells = [[str(h) for h in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"

    rule = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    return "\n".join([rule, line(cells[0]), rule, *(line(r) for r in cells[1:]), rule])


def format_cell(value: float) -> str:
    """A per-class percentage for a table: ``'87.25'``, or ``'nan (absent)'`` for a class with no pixels."""
    return "nan (absent)" if value is None or np.isnan(value) else f"{value:.2f}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "es" if word.endswith("s") else "s")


def absent_classes_note(
    confusion: torch.Tensor | np.ndarray, classes: Sequence[str], summary: Mapping[str, float],
    per_class: Mapping[str, Sequence[float]],
) -> str | None:
    """One line on what the means leave out, or None when every class has pixels.

    E.g. ``'mIoU 100.00 over 1 of 2 classes; 1 class absent from ground truth and predictions: cell'``.
    ``summary`` holds the means (``mIoU``...), ``per_class`` their per-class columns (``IoU``...); a mean
    over fewer than all classes (MMSeg's nan-mean) says over how many.
    """
    conf = confusion.detach().cpu().numpy() if isinstance(confusion, torch.Tensor) else np.asarray(confusion)
    in_gt, in_pred = conf.sum(axis=1) > 0, conf.sum(axis=0) > 0
    k = len(in_gt)
    by_count: dict[int, list[str]] = {}  # means over the same number of classes share one phrase
    for key, value in summary.items():
        column = per_class.get(key[1:]) if key.startswith("m") else None
        if column is None:
            continue
        used = int(np.sum(~np.isnan(np.asarray(column, dtype=np.float64))))
        if used < k:
            by_count.setdefault(used, []).append(f"{key} {value:.2f}")
    parts = [f"{', '.join(means)} over {used} of {_plural(k, 'class')}" for used, means in by_count.items()]
    nowhere = [str(classes[i]) for i in range(k) if not in_gt[i] and not in_pred[i]]
    only_pred = [str(classes[i]) for i in range(k) if not in_gt[i] and in_pred[i]]
    if nowhere:
        parts.append(f"{_plural(len(nowhere), 'class')} absent from ground truth and predictions: {', '.join(nowhere)}")
    if only_pred:
        parts.append(f"{_plural(len(only_pred), 'class')} absent from ground truth but predicted (IoU 0): "
                     f"{', '.join(only_pred)}")
    return "; ".join(parts) if parts else None


def _field(sample: Any, name: str) -> torch.Tensor | None:
    """Return the tensor of ``sample.<name>`` (SegDataSample, PixelData or MMSeg-style dict)."""
    value = sample.get(name) if isinstance(sample, Mapping) else getattr(sample, name, None)
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = value.get("data")
    elif not isinstance(value, torch.Tensor):
        value = getattr(value, "data", value)
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    return value


def _meta(sample: Any, key: str, default: Any = None) -> Any:
    if isinstance(sample, Mapping):
        return sample.get(key, sample.get("metainfo", {}).get(key, default))
    getter = getattr(sample, "get", None)
    return getter(key, default) if callable(getter) else getattr(sample, key, default)


def _label_error(what: str, labels: torch.Tensor, k: int, ignore_index: int) -> ValueError:
    bad = torch.unique(labels[(labels < 0) | (labels >= k)])
    bad = bad[bad != ignore_index][:10].tolist() if what == "ground-truth" else bad[:10].tolist()
    return ValueError(
        f"IoUMetric: {what} labels {bad} are outside [0, {k}) and not ignore_index={ignore_index}; "
        "check num_classes/classes, reduce_zero_label and the label maps"
    )


def confusion_counts_checked(pred: torch.Tensor, gt: torch.Tensor, k: int, ignore_index: int) -> torch.Tensor:
    """(K, K) int64 counts of flat integer ``gt`` (rows) x ``pred`` (columns), ``ignore_index`` pixels left out.

    One ``bincount`` over ``gt * K + pred`` (int32 when it fits), no masking copies; labels outside
    [0, K) (other than ``ignore_index``) raise a ValueError naming them. Reads four scalars on the host.
    """
    p_lo, p_hi, g_lo, g_hi = torch.stack([*torch.aminmax(pred), *torch.aminmax(gt)]).tolist()
    if p_lo < 0 or p_hi >= k:
        raise _label_error("predicted", pred, k, ignore_index)
    if g_lo < 0:
        if ignore_index >= 0 or g_lo != ignore_index or bool(((gt < 0) & (gt != ignore_index)).any()):
            raise _label_error("ground-truth", gt, k, ignore_index)
        keep = gt != ignore_index  # a negative ignore_index: drop those pixels first (rare layout)
        pred, gt, g_hi = pred[keep], gt[keep], max(int(gt[keep].max()) if keep.any() else 0, 0)
    dtype = torch.int32 if (g_hi + 1) * k < 2**31 else torch.int64
    index = torch.add(pred.to(dtype), gt.to(dtype), alpha=k)
    rows = torch.bincount(index, minlength=max(g_hi + 1, k) * k).view(-1, k)
    # Rows >= K are ground-truth labels outside the classes: only ignore_index may have pixels there.
    extra = rows[k:].sum(dim=1).nonzero().flatten() + k
    extra = extra[extra != ignore_index]
    if extra.numel():
        raise _label_error("ground-truth", extra, k, ignore_index)
    counts = rows[:k].to(torch.int64)
    if 0 <= ignore_index < k:
        counts = counts.clone()
        counts[ignore_index] = 0
    return counts


def confusion_counts_on_device(
    pred: torch.Tensor, gt: torch.Tensor, k: int, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, K) int64 counts like :func:`confusion_counts_checked` and the number of out-of-range pixels.

    Never synchronises with the host: ignored pixels go to a spare bin, out-of-range ones to another
    that the caller checks once per evaluation.
    """
    gt, pred = gt.long(), pred.long()
    ignored = gt == ignore_index
    valid = (gt >= 0) & (gt < k) & (pred >= 0) & (pred < k) & ~ignored
    spare = torch.where(ignored, k * k, k * k + 1)
    index = torch.where(valid, gt * k + pred, spare)
    bins = torch.zeros(k * k + 2, dtype=torch.int64, device=pred.device)
    bins.index_add_(0, index, torch.ones((), dtype=torch.int64, device=pred.device).expand_as(index))
    return bins[: k * k].view(k, k), bins[k * k + 1]


@METRICS.register_module()
class IoUMetric:
    """Semantic segmentation metrics from a confusion matrix accumulated over the whole evaluation.

    ``process`` adds each prediction/ground-truth pair to a (K, K) int64 confusion matrix on the
    predictions' device; ``evaluate`` all-reduces it across ranks and returns MMSeg's keys
    (``aAcc``, ``mIoU``, ``mAcc``, ``mDice``, ``mFscore``, ``mPrecision``, ``mRecall`` as selected by
    ``iou_metrics``) in percent rounded to 2 decimals. The per-class table of the last evaluation is
    kept in ``per_class_results`` and logged to the ``seglab`` logger.
    """

    default_prefix: str | None = None

    def __init__(
        self,
        ignore_index: int = 255,
        iou_metrics: Sequence[str] | str = ("mIoU",),
        nan_to_num: float | None = None,
        beta: float = 1,
        collect_device: str = "cpu",
        output_dir: str | None = None,
        format_only: bool = False,
        prefix: str | None = None,
    ) -> None:
        metrics = [iou_metrics] if isinstance(iou_metrics, str) else list(iou_metrics)
        bad = [m for m in metrics if m not in _ALLOWED]
        if bad:
            raise ConfigError(f"IoUMetric: unknown iou_metrics {bad}; choose from {list(_ALLOWED)}")
        if collect_device not in ("cpu", "gpu"):
            raise ConfigError(f"IoUMetric: collect_device must be 'cpu' or 'gpu', got {collect_device!r}")
        if format_only and not output_dir:
            raise ConfigError("IoUMetric: format_only=True only writes the predictions and computes no metric; "
                              "give it output_dir='path/to/pngs' (seglab test --out DIR sets it)")
        warn_unused("IoUMetric", collect_device=collect_device)
        self.ignore_index = ignore_index
        self.metrics = metrics
        self.nan_to_num = nan_to_num
        self.beta = beta
        self.collect_device = collect_device
        self.output_dir = output_dir
        if output_dir:
            os.makedirs(output_dir, exist_ok=True)
        self.format_only = format_only
        self.prefix = prefix or self.default_prefix
        self._dataset_meta: dict | None = None
        self.confusion: torch.Tensor | None = None
        self._bad_pixels: torch.Tensor | None = None
        self.num_samples = 0
        self.per_class_results: dict[str, list] = {}
        self.absent_note: str | None = None  # what the last means left out (absent classes), for the tables

    # ------------------------------------------------------------------ meta
    @property
    def dataset_meta(self) -> dict | None:
        """Dataset meta information; ``classes`` fixes the number of classes K."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta: dict | None) -> None:
        self._dataset_meta = copy.deepcopy(dict(meta)) if meta is not None else None
        if self.confusion is not None and self.confusion.shape[0] != self.num_classes:
            self.reset()

    @property
    def num_classes(self) -> int:
        """K = ``len(dataset_meta['classes'])``."""
        if not self._dataset_meta or not self._dataset_meta.get("classes"):
            raise ConfigError(
                "IoUMetric needs dataset_meta with 'classes' before process(); set "
                "metric.dataset_meta = dataset.metainfo (the runner does this for you)"
            )
        return len(self._dataset_meta["classes"])

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        self.confusion = None
        self._bad_pixels: torch.Tensor | None = None  # out-of-range labels seen on a GPU, raised by evaluate
        self.num_samples = 0

    # --------------------------------------------------------------- process
    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Add the batch's ``pred_sem_seg`` (1, H, W) / ``gt_sem_seg`` (1, H, W) pairs to the confusion matrix.

        The whole batch goes through one ``bincount`` on the predictions' device; nothing is copied to
        the host (on a GPU, label-range errors are counted there and raised by ``evaluate``).
        """
        preds, gts = [], []
        for sample in data_samples:
            pred = _field(sample, "pred_sem_seg")
            if pred is None:
                raise ValueError("IoUMetric.process: a data sample has no pred_sem_seg")
            pred = pred.squeeze()
            if not self.format_only:
                gt = _field(sample, "gt_sem_seg")
                if gt is None:
                    raise ValueError(
                        "IoUMetric.process: a data sample has no gt_sem_seg; use format_only=True "
                        "to only write predictions"
                    )
                gt = gt.squeeze()
                if pred.shape != gt.shape:
                    raise ValueError(
                        f"IoUMetric: prediction shape {tuple(pred.shape)} != ground truth {tuple(gt.shape)}")
                preds.append(pred.reshape(-1))
                gts.append(gt.reshape(-1).to(pred.device, non_blocking=True))
            self.num_samples += 1
            if self.output_dir:
                self._write_png(sample, pred)
        if preds:
            pred = preds[0] if len(preds) == 1 else torch.cat(preds)
            gt = gts[0] if len(gts) == 1 else torch.cat(gts)
            self._accumulate(pred, gt)

    def _accumulate(self, pred: torch.Tensor, gt: torch.Tensor) -> None:
        """Add flat ``pred``/``gt`` label tensors (same length, same device) to the confusion matrix."""
        k = self.num_classes
        if self.confusion is None:
            self.confusion = torch.zeros((k, k), dtype=torch.int64, device=pred.device)
            self._bad_pixels = torch.zeros((), dtype=torch.int64, device=pred.device)
        if pred.dtype == torch.bool:
            pred = pred.to(torch.uint8)
        if gt.dtype == torch.bool:
            gt = gt.to(torch.uint8)
        if self._checks_on_host(pred.device):
            counts = confusion_counts_checked(pred, gt, k, self.ignore_index)
        else:
            counts, bad = confusion_counts_on_device(pred, gt, k, self.ignore_index)
            self._bad_pixels = self._bad_pixels.to(pred.device) + bad
        self.confusion += counts.to(self.confusion.device)

    @staticmethod
    def _checks_on_host(device: torch.device) -> bool:
        # Reading the label range is free on the CPU (and names the bad labels); a GPU would stall on it.
        return device.type == "cpu"

    def _write_png(self, sample: Any, pred: torch.Tensor) -> None:
        img_path = _meta(sample, "img_path")
        if not img_path:
            raise ValueError("IoUMetric: output_dir needs 'img_path' in each sample's metainfo to name the file")
        mask = pred.detach().cpu().numpy().astype(np.int64)
        if _meta(sample, "reduce_zero_label", False):
            mask = mask + 1  # undo the 0 -> 255 shift so files use the dataset's original ids
        mask = mask.astype(np.uint8 if mask.max(initial=0) < 256 else np.uint16)
        name = osp.splitext(osp.basename(img_path))[0] + ".png"
        cv2.imwrite(osp.abspath(osp.join(self.output_dir, name)), mask)

    # --------------------------------------------------------------- compute
    def compute_metrics(self, confusion: torch.Tensor | None = None) -> dict[str, float]:
        """Return MMSeg's summary metrics (percent, 2 decimals) from ``confusion`` (default: accumulated)."""
        if self.format_only:
            logger.info("IoUMetric: format_only=True, predictions written to %s", self.output_dir)
            return {}
        conf = self.confusion if confusion is None else confusion
        if conf is None:
            conf = torch.zeros((self.num_classes, self.num_classes), dtype=torch.int64)
        a_acc, per_class = metrics_from_confusion(conf, beta=self.beta, nan_to_num=self.nan_to_num)
        columns: list[str] = []
        for m in self.metrics:
            columns += [c for c in _COLUMNS[m] if c not in columns]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of an all-NaN column -> NaN
            results = {"aAcc": float(np.round(a_acc * 100, 2))}
            for c in columns:
                results["m" + c] = float(np.round(np.nanmean(per_class[c]) * 100, 2))
        classes = self._class_names(conf.shape[0])
        self.per_class_results = {"Class": classes}
        self.per_class_results.update({c: np.round(v * 100, 2).tolist() for c, v in per_class.items()})
        rows = [[name] + [format_cell(self.per_class_results[c][i]) for c in columns] for i, name in enumerate(classes)]
        self.absent_note = absent_classes_note(conf, classes, {k: v for k, v in results.items() if k != "aAcc"},
                                               self.per_class_results)
        note = f"\n{self.absent_note}" if self.absent_note else ""
        logger.info("per class results:\n%s%s", format_table(["Class", *columns], rows), note)
        return results

    def _class_names(self, k: int) -> list[str]:
        classes = (self._dataset_meta or {}).get("classes")
        return [str(c) for c in classes] if classes and len(classes) == k else [str(i) for i in range(k)]

    def evaluate(self, size: int | None = None) -> dict[str, float]:
        """All-reduce the confusion matrix over ranks, compute the metrics, add ``prefix`` and reset.

        ``size`` is the dataset length; a distributed sampler that pads the last batch repeats
        samples, which a confusion matrix cannot undo, so more samples than ``size`` only warns.
        """
        conf = self.confusion
        if conf is None and not self.format_only:
            conf = torch.zeros((self.num_classes, self.num_classes), dtype=torch.int64)
        # One flat tensor [confusion..., out-of-range pixels, samples]: one all-reduce and one host copy.
        k = conf.shape[0] if conf is not None else 0
        device = conf.device if conf is not None else torch.device("cpu")
        bad = self._bad_pixels if self._bad_pixels is not None else torch.zeros((), dtype=torch.int64)
        parts = [conf.reshape(-1)] if conf is not None else []
        state = torch.cat([*parts, bad.to(device).reshape(1), torch.tensor([self.num_samples], device=device)])
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            reduce_device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
            state = state.to(reduce_device)
            dist.all_reduce(state)
        state = state.cpu()
        conf = state[: k * k].view(k, k) if conf is not None else None
        if int(state[-2]):
            self.reset()
            raise ValueError(
                f"IoUMetric: {int(state[-2])} pixels have predicted or ground-truth labels outside [0, {k}) and "
                f"not ignore_index={self.ignore_index}; check num_classes/classes, reduce_zero_label and the label maps"
            )
        total = int(state[-1])
        if total == 0:
            warnings.warn("IoUMetric.evaluate: no samples were processed; metrics are NaN", stacklevel=2)
        elif size is not None and total > size:
            warnings.warn(
                f"IoUMetric.evaluate: {total} samples processed for a dataset of {size}; the sampler "
                "repeated samples (use a sampler without round-up padding for exact metrics)",
                stacklevel=2,
            )
        metrics = self.compute_metrics(conf)
        if self.prefix:
            metrics = {f"{self.prefix}/{k}": v for k, v in metrics.items()}
        self.reset()
        return metrics
