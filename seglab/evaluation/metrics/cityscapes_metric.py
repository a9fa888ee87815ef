"""CityscapesMetric: labelId PNGs in the Cityscapes submission format, scored by the official cityscapesscripts.

MMSeg's ``CityscapesMetric`` (same name and arguments). Each prediction (trainIds 0-18) is written as
``output_dir/<image stem>.png``, an 8-bit grayscale PNG of Cityscapes labelIds (7 road, 8 sidewalk,
... 33 bicycle): the format of the official benchmark server. Unless ``format_only``, the official
``evalPixelLevelSemanticLabeling`` then scores those files against ``*_gtFine_labelIds.png`` (and
``*_gtFine_instanceIds.png`` for the instance-weighted iIoU) next to the ``*_gtFine_labelTrainIds.png``
the dataset reads, and returns its class and category averages (fractions in [0, 1], its own keys).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch.distributed as dist

from seglab.registry import METRICS, ConfigError

from ...unused_arguments import warn_unused
from .iou_metric import _field, _meta, format_cell, format_table

__all__ = ["CITYSCAPES_TRAIN_TO_LABEL_ID", "CityscapesMetric", "train_ids_to_label_ids"]

logger = logging.getLogger("seglab")

# trainId -> labelId of the 19 evaluated classes (cityscapesscripts' labels.py); other labelIds are void.
CITYSCAPES_TRAIN_TO_LABEL_ID = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
_RESULT_KEYS = ("averageScoreClasses", "averageScoreInstClasses", "averageScoreCategories",
                "averageScoreInstCategories")


def train_ids_to_label_ids(pred: np.ndarray) -> np.ndarray:
    """(H, W) trainIds 0-18 -> uint8 labelIds; any other value (e.g. 255) becomes 0 ('unlabeled')."""
    lut = np.zeros(256, dtype=np.uint8)
    lut[: len(CITYSCAPES_TRAIN_TO_LABEL_ID)] = CITYSCAPES_TRAIN_TO_LABEL_ID
    pred = np.asarray(pred)
    if pred.size and (pred.min() < 0 or pred.max() > 255):
        raise ValueError(f"CityscapesMetric: predictions must be trainIds 0-18, got values in [{pred.min()}, {pred.max()}]")
    return lut[pred.astype(np.int64)]


def _cityscapes_eval() -> Any:
    try:
        import cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling as cs_eval
    except ImportError:
        return None
    return cs_eval


@contextlib.contextmanager
def _numpy_in1d() -> Any:
    """``np.in1d`` for the duration of the official evaluation, which calls it; NumPy 2.4 removed it.

    ``in1d(a, b)`` is ``isin(a, b).ravel()``; nothing is changed when NumPy still has it.
    """
    if hasattr(np, "in1d"):
        yield
        return

    def in1d(ar1: Any, ar2: Any, assume_unique: bool = False, invert: bool = False) -> np.ndarray:
        return np.isin(ar1, ar2, assume_unique=assume_unique, invert=invert).ravel()

    np.in1d = in1d
    try:
        yield
    finally:
        del np.in1d


@METRICS.register_module()
class CityscapesMetric:
    """Cityscapes submission PNGs and the official pixel-level evaluation (class/category IoU and iIoU).

    ``format_only`` only writes the PNGs (a test split without labels; needs ``keep_results=True``).
    ``keep_results=False`` removes the PNGs written once they are scored.
    """

    default_prefix: str | None = None

    def __init__(
        self,
        output_dir: str,
        ignore_index: int = 255,
        format_only: bool = False,
        keep_results: bool = False,
        collect_device: str = "cpu",
        prefix: str | None = None,
    ) -> None:
        if not output_dir:
            raise ConfigError("CityscapesMetric needs output_dir (where the labelId PNGs are written)")
        if format_only and not keep_results:
            raise ConfigError("CityscapesMetric: format_only=True writes the PNGs to submit, so it needs "
                              "keep_results=True (seglab test --out DIR sets both)")
        if not format_only and _cityscapes_eval() is None:
            raise ConfigError("CityscapesMetric evaluates with the official cityscapesscripts: "
                              "pip install 'seglab[cityscapes]' (or set format_only=True, keep_results=True "
                              "to only write the submission PNGs)")
        warn_unused("CityscapesMetric", ignore_index=ignore_index, collect_device=collect_device)
        self.output_dir = output_dir
        self.ignore_index = ignore_index
        self.format_only = format_only
        self.keep_results = keep_results
        self.collect_device = collect_device
        self.prefix = prefix or self.default_prefix
        self.dataset_meta: dict | None = None
        self.results: list[tuple[str, str]] = []
        self.class_results: dict[str, dict[str, float]] = {}
        os.makedirs(output_dir, exist_ok=True)

    def reset(self) -> None:
        """Forget the files processed so far."""
        self.results = []

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Write each ``pred_sem_seg`` as ``<image stem>.png`` of labelIds; remember its ground-truth labelIds file."""
        os.makedirs(self.output_dir, exist_ok=True)  # again: keep_results=False removed it after the last evaluation
        for sample in data_samples:
            pred = _field(sample, "pred_sem_seg")
            img_path = _meta(sample, "img_path")
            if pred is None or not img_path:
                raise ValueError("CityscapesMetric.process: each data sample needs pred_sem_seg and img_path")
            label_ids = train_ids_to_label_ids(pred.squeeze().detach().cpu().numpy())
            png = osp.abspath(osp.join(self.output_dir, osp.splitext(osp.basename(img_path))[0] + ".png"))
            if not cv2.imwrite(png, label_ids):
                raise OSError(f"CityscapesMetric: could not write {png}")
            gt = ""
            if not self.format_only:
                seg_map = _meta(sample, "seg_map_path")
                if not seg_map or not str(seg_map).endswith("labelTrainIds.png"):
                    raise ValueError(f"CityscapesMetric: ground truth {seg_map!r} of {img_path} is not a "
                                     "*_labelTrainIds.png next to the official *_labelIds.png (the Cityscapes layout)")
                gt = str(seg_map).replace("labelTrainIds.png", "labelIds.png")
            self.results.append((png, gt))

    def _gather(self) -> list[tuple[str, str]]:
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            parts: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(parts, self.results)
            return [r for part in parts for r in part]
        return list(self.results)

    def evaluate(self, size: int | None = None) -> dict[str, float]:
        """Score every file written (all ranks) with cityscapesscripts; ``{}`` when ``format_only``."""
        results = self._gather()
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        if self.format_only:
            logger.info("CityscapesMetric: format_only=True, %d submission PNGs in %s", len(results), self.output_dir)
            self.reset()
            return {}
        metrics = self.compute_metrics(results) if rank == 0 else {}
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            box = [metrics]
            dist.broadcast_object_list(box, src=0)
            metrics = box[0]
            dist.barrier()  # every rank's files are scored before rank 0 deletes them
        if not self.keep_results:
            for png, _ in results if rank == 0 else []:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(png)
            with contextlib.suppress(OSError):
                os.rmdir(self.output_dir)  # only when empty: never a folder that holds other files
        self.reset()
        if self.prefix:
            metrics = {f"{self.prefix}/{k}": v for k, v in metrics.items()}
        return metrics

    def compute_metrics(self, results: Sequence[tuple[str, str]]) -> dict[str, float]:
        """The official evaluation of (prediction PNG, ground-truth labelIds PNG) pairs: MMSeg's keys and the class averages."""
        cs_eval = _cityscapes_eval()
        if not results:
            raise ValueError("CityscapesMetric.evaluate: no samples were processed")
        missing = [p for _, gt in results for p in (gt, gt.replace("labelIds", "instanceIds")) if not osp.isfile(p)]
        if missing:
            raise FileNotFoundError(
                f"CityscapesMetric: {len(missing)} official ground-truth files are missing, e.g. {missing[0]}; the "
                "evaluation reads *_gtFine_labelIds.png and *_gtFine_instanceIds.png from the gtFine download "
                "next to the *_labelTrainIds.png files")
        args = copy.copy(cs_eval.args)  # the module's settings object, copied so nothing global changes
        args.evalInstLevelScore = True
        args.evalPixelAccuracy = True
        args.JSONOutput = False
        args.quiet = True
        args.predictionPath = osp.abspath(self.output_dir)
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed), _numpy_in1d():
                found = cs_eval.evaluateImgLists([p for p, _ in results], [g for _, g in results], args)
        except SystemExit as exc:  # cityscapesscripts' printError exits the process
            raise ValueError(f"CityscapesMetric: cityscapesscripts failed: {printed.getvalue().strip()}") from exc
        from cityscapesscripts.helpers.labels import id2label

        self.class_results = {}
        for label_id in CITYSCAPES_TRAIN_TO_LABEL_ID:  # the 19 evaluated classes; void labelIds score NaN
            name = id2label[label_id].name
            self.class_results[name] = dict(IoU=found["classScores"][name], iIoU=found["classInstScores"][name])
        rows = [[n, format_cell(100 * v["IoU"]), format_cell(100 * v["iIoU"])] for n, v in self.class_results.items()]
        logger.info("Cityscapes per class results:\n%s", format_table(["Class", "IoU", "iIoU"], rows))
        return {k: float(found[k]) for k in _RESULT_KEYS}
