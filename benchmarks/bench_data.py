"""The data side of bench_models.py: the CamVid training pipeline and IoUMetric, seglab vs MMSeg."""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import os.path as osp
import random
from collections.abc import Callable
from typing import Any

from bench_timing import interleaved, summarize

TRAIN_PIPELINE = [
    {"type": "LoadImageFromFile"},
    {"type": "LoadAnnotations"},
    {"type": "RandomResize", "scale": (480, 360), "ratio_range": (0.5, 2.0), "keep_ratio": True},
    {"type": "RandomCrop", "crop_size": (352, 480), "cat_max_ratio": 0.75},
    {"type": "RandomFlip", "prob": 0.5},
    {"type": "PhotoMetricDistortion"},
    {"type": "PackSegInputs"},
]


def camvid_infos(args: argparse.Namespace, n: int) -> list[dict]:
    """Data infos of the first ``n`` CamVid training images (label 11, 'void', ignored)."""
    files = sorted(os.listdir(osp.join(args.camvid, "train")))[:n]
    if not files:
        raise FileNotFoundError(f"no images under {args.camvid}/train; pass --camvid or --skip pipeline")
    return [
        {
            "img_path": osp.join(args.camvid, "train", f),
            "seg_map_path": osp.join(args.camvid, "trainannot", f),
            "label_map": {11: 255},
            "reduce_zero_label": False,
            "seg_fields": [],
            "sample_idx": i,
        }
        for i, f in enumerate(files)
    ]


def bench_pipeline(args: argparse.Namespace, mm: dict, sl: dict) -> dict:
    """Items/s of the CamVid training pipeline on the first ``--pipeline-images`` real images."""
    import numpy as np

    infos = camvid_infos(args, args.pipeline_images)
    pipes = {
        "seglab": sl["Compose"]([sl["TRANSFORMS"].build(dict(t)) for t in TRAIN_PIPELINE]),
        "mmseg": mm["Compose"]([mm["TRANSFORMS"].build(dict(t)) for t in TRAIN_PIPELINE]),
    }

    def run(pipe: Any) -> Callable[[], None]:
        def go() -> None:
            random.seed(0), np.random.seed(0)  # same random draws per pass for both libraries
            for info in infos:
                pipe(copy.deepcopy(info))

        return go

    t = interleaved({n: run(p) for n, p in pipes.items()}, args.repeats, args.warmup, "cpu")
    return dict(summarize(t, len(infos)), images=len(infos), pipeline=[d["type"] for d in TRAIN_PIPELINE])


# ---------------------------------------------------------------------------------------- metric
def bench_metric(args: argparse.Namespace, mm: dict, sl: dict) -> dict:
    """IoUMetric process + evaluate over random ``--metric-shape`` predictions (19 classes, some ignored)."""
    import torch

    g = torch.Generator().manual_seed(6)
    data = []
    shape = (1, *args.metric_shape)
    for _ in range(args.metric_samples):
        gt = torch.randint(0, 19, shape, generator=g)
        gt[:, :40] = 255
        pred = torch.where(
            torch.rand(shape, generator=g) < 0.6,
            gt.clamp(max=18),
            torch.randint(0, 19, shape, generator=g),
        )
        data.append({"pred_sem_seg": {"data": pred.to(args.device)}, "gt_sem_seg": {"data": gt.to(args.device)}})
    meta = {"classes": tuple(f"c{i}" for i in range(19))}
    results: dict[str, dict] = {}

    def run(lib: dict, key: str) -> Callable[[], None]:
        def go() -> None:
            metric = lib["METRICS"].build({"type": "IoUMetric", "iou_metrics": ["mIoU", "mDice", "mFscore"]})
            metric.dataset_meta = meta
            for d in data:
                metric.process({}, [d])
            with contextlib.redirect_stdout(open(os.devnull, "w")):
                results[key] = metric.evaluate(len(data))

        return go

    t = interleaved({"seglab": run(sl, "seglab"), "mmseg": run(mm, "mmseg")}, args.repeats, args.warmup, args.device)
    diff = max(abs(float(results["seglab"][k]) - float(results["mmseg"][k])) for k in results["mmseg"])
    return dict(summarize(t, len(data)), samples=len(data), shape=list(args.metric_shape), max_abs_metric_diff=diff)


def pipeline_libraries() -> dict:
    """Versions of the decoding/augmentation libraries both pipelines use, and seglab's PNG decoder."""
    import cv2
    import numpy as np

    from seglab.datasets.transforms import png

    spng = png._pyspng()
    return {
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
        "numpy": np.__version__,
        "seglab_rgb_png_decoder": f"libspng (pyspng {spng.__version__})" if spng else "opencv (pyspng not installed)",
    }
