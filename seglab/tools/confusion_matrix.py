"""``seglab confusion-matrix CONFIG PRED_DIR [--out DIR]``: the test set's confusion matrix from label PNGs.

Reads the index PNGs written by ``seglab test --out`` or ``seglab infer`` (``<image stem>.png``) and the
dataset's ground truth (``reduce_zero_label``/``label_map`` applied as in evaluation); writes
``confusion_matrix.csv`` (counts, rows = ground truth) and ``confusion_matrix.png`` (row-normalised).
"""
from __future__ import annotations

import argparse
import csv
import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from ._common import build_dataset, load_config, progress, split_dataset_cfgs

__all__ = ["accumulate_confusion", "add_parser", "run", "write_confusion_csv"]


def accumulate_confusion(pairs: Any, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """(C, C) int64 counts over ``(gt (H, W), pred (H, W))`` pairs; rows = ground truth, columns = prediction."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    for gt, pred in pairs:
        gt, pred = np.asarray(gt).astype(np.int64), np.asarray(pred).astype(np.int64)
        if gt.shape != pred.shape:
            raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} sizes differ")
        keep = gt != ignore_index
        bad = (gt[keep] < 0) | (gt[keep] >= num_classes)
        if bad.any():
            raise ValueError(f"ground-truth label {int(gt[keep][bad][0])} outside 0..{num_classes - 1} (and not "
                             f"ignore_index={ignore_index})")
        pred_kept = pred[keep]
        if pred_kept.size and (pred_kept.min() < 0 or pred_kept.max() >= num_classes):
            raise ValueError(f"predicted label {int(pred_kept.max())} outside 0..{num_classes - 1}")
        matrix += np.bincount(gt[keep] * num_classes + pred_kept, minlength=num_classes**2).reshape(
            num_classes, num_classes)
    return matrix


def write_confusion_csv(path: str, matrix: np.ndarray, classes: Sequence[str]) -> None:
    """CSV: a header ``gt \\ pred, <classes>`` then one row of counts per ground-truth class."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["gt \\ pred", *classes])
        for name, row in zip(classes, matrix):
            writer.writerow([name, *(int(v) for v in row)])


def _pred_path(pred_dir: str, info: dict, img_dir: str | None) -> str:
    """The prediction PNG of a sample: ``<rel path below the image folder>.png``, else ``<stem>.png``."""
    img_path = info["img_path"]
    candidates = []
    if img_dir and osp.abspath(img_path).startswith(osp.abspath(img_dir) + os.sep):
        candidates.append(osp.splitext(osp.relpath(img_path, img_dir))[0])
    candidates.append(osp.splitext(osp.basename(img_path))[0])
    for name in candidates:
        path = osp.join(pred_dir, f"{name}.png")
        if osp.isfile(path):
            return path
    raise FileNotFoundError(f"no prediction for {img_path}: expected {osp.join(pred_dir, candidates[-1] + '.png')} "
                            "(write them with `seglab test ... --out DIR` or `seglab infer`)")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``confusion-matrix`` on an argparse subparsers object."""
    from seglab.config import DictAction

    p = subparsers.add_parser("confusion-matrix", help="confusion matrix (PNG + CSV) of predicted label PNGs",
                              description=__doc__)
    p.add_argument("config", help="config file (its test set gives the ground truth)")
    p.add_argument("pred_dir", help="folder of predicted index PNGs")
    p.add_argument("--out", default=None, help="output folder (default: PRED_DIR)")
    p.add_argument("--original-ids", action="store_true",
                   help="the PNGs hold the dataset's original ids (what `seglab test --out` writes for a "
                        "reduce_zero_label dataset, e.g. ADE20K): subtract 1, 0 becomes ignored")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="dataset split (default: test)")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, help="override config keys")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Accumulate, write CSV and PNG, print aAcc/mIoU; 0 on success."""
    from seglab.evaluation.metrics.iou_metric import metrics_from_confusion
    from seglab.visualization import confusion_matrix_figure

    if not osp.isdir(args.pred_dir):
        raise SystemExit(f"seglab confusion-matrix: prediction folder not found: {args.pred_dir}")
    cfg = load_config(args.config, args.cfg_options)
    # Only the annotations are needed: the dataset's own reduce_zero_label/label_map reach LoadAnnotations.
    datasets = [build_dataset(c, pipeline=[dict(type="LoadAnnotations")]) for c in split_dataset_cfgs(cfg, args.split)]
    classes = list(datasets[0].metainfo["classes"])
    ignore_index = getattr(datasets[0], "ignore_index", 255)

    def pairs() -> Any:
        for ds in datasets:
            img_dir = (getattr(ds, "data_prefix", None) or {}).get("img_path")  # data_root already joined
            for i in range(len(ds)):
                info = ds.get_data_info(i)
                pred_path = _pred_path(args.pred_dir, info, img_dir)
                pred = cv2.imread(pred_path, cv2.IMREAD_UNCHANGED)
                if pred is None or pred.ndim != 2:
                    raise SystemExit(f"seglab confusion-matrix: {pred_path} is not a single-channel label PNG")
                if args.original_ids:  # undo IoUMetric's +1 of reduce_zero_label outputs; 0 was never a class
                    pred = np.where(pred == 0, ignore_index, pred.astype(np.int64) - 1)
                yield ds[i]["gt_seg_map"], pred

    if any(getattr(ds, "reduce_zero_label", False) for ds in datasets) and not args.original_ids:
        print("seglab confusion-matrix: the dataset uses reduce_zero_label; PNGs from `seglab test --out` hold "
              "original ids (label + 1): pass --original-ids for those (seglab infer PNGs need no flag)")
    total = sum(len(ds) for ds in datasets)
    try:
        matrix = accumulate_confusion(progress(pairs(), total, "confusion-matrix"), len(classes), ignore_index)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"seglab confusion-matrix: {exc}") from None
    out = args.out or args.pred_dir
    os.makedirs(out, exist_ok=True)
    write_confusion_csv(osp.join(out, "confusion_matrix.csv"), matrix, classes)
    png = osp.join(out, "confusion_matrix.png")
    if not cv2.imwrite(png, confusion_matrix_figure(matrix, classes)[..., ::-1]):
        raise SystemExit(f"seglab confusion-matrix: cannot write {png}")
    a_acc, per_class = metrics_from_confusion(matrix)
    print(f"seglab confusion-matrix: {total} images; aAcc {100 * a_acc:.2f}, "
          f"mIoU {100 * np.nanmean(per_class['IoU']):.2f}; wrote {osp.join(out, 'confusion_matrix.csv')} and {png}")
    return 0
