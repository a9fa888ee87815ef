"""``seglab browse-dataset``: run a split's pipeline (augmentations included) and save mask overlays."""
from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from ._common import build_dataset, load_config, progress, split_dataset_cfgs

__all__ = ["add_parser", "browse_dataset", "render_item", "run"]


def _blend_rgb(image_rgb: np.ndarray, mask: np.ndarray, palette: Sequence[Sequence[int]], alpha: float) -> np.ndarray:
    try:
        from seglab.visualization.overlay import overlay
    except ImportError:  # visualization is optional for this tool; blend inline
        colours = np.asarray(palette, np.uint8).reshape(-1, 3)
        valid = mask < len(colours)
        colour = np.zeros_like(image_rgb)
        colour[valid] = colours[mask[valid]]
        blended = cv2.addWeighted(image_rgb, 1 - alpha, colour, alpha, 0)
        return np.where(valid[..., None], blended, image_rgb)
    return overlay(image_rgb, mask, palette, alpha=alpha)


def render_item(item: dict, palette: Sequence[Sequence[int]], alpha: float = 0.5) -> np.ndarray:
    """A packed sample (``inputs`` (C, H, W) BGR, ``data_samples.gt_sem_seg``) as a BGR overlay (H, W, 3)."""
    img = item["inputs"].detach().cpu().numpy().transpose(1, 2, 0)
    if img.dtype != np.uint8:  # e.g. to_float32 pipelines, 16-bit sources: stretch to 0..255 for viewing
        lo, hi = float(img.min()), float(img.max())
        img = ((img - lo) * (255.0 / max(hi - lo, 1e-6))).astype(np.uint8)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    img = np.ascontiguousarray(img[:, :, :3])
    sample = item["data_samples"]
    gt = getattr(sample, "gt_sem_seg", None)
    if gt is None:
        return img
    mask = gt.data.detach().cpu().numpy().reshape(img.shape[:2]).astype(np.int64)
    rgb = _blend_rgb(np.ascontiguousarray(img[:, :, ::-1]), mask, palette, alpha)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def browse_dataset(datasets: Sequence[Any], output_dir: str | None, max_items: int | None = None,
                   alpha: float = 0.5, show: bool = False, show_interval: float = 2.0) -> list[str]:
    """Render up to ``max_items`` samples of ``datasets`` (through their pipelines) to ``output_dir`` PNGs.

    Files are ``<index>_<image stem>.png``; returns their paths.
    """
    jobs = [(ds, i) for ds in datasets for i in range(len(ds))]
    if max_items is not None:
        jobs = jobs[:max_items]
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
    written = []
    for n, (ds, i) in enumerate(progress(iter(jobs), len(jobs), desc="browsing")):
        item = ds[i]
        vis = render_item(item, ds.metainfo["palette"], alpha)
        stem = os.path.splitext(os.path.basename(item["data_samples"].metainfo.get("img_path") or str(i)))[0]
        if output_dir:
            path = os.path.join(output_dir, f"{n:05d}_{stem}.png")
            if not cv2.imwrite(path, vis):
                raise OSError(f"cannot write {path}")
            written.append(path)
        if show:
            _show(stem, vis, show_interval)
    return written


def _show(title: str, img: np.ndarray, interval: float) -> None:
    try:
        cv2.imshow("browse-dataset", img)
        cv2.setWindowTitle("browse-dataset", title)
        cv2.waitKey(max(1, int(interval * 1000)))
    except cv2.error:  # opencv-python-headless has no GUI: fall back to the files
        raise SystemExit("this OpenCV build has no display support; pass --not-show and use --output-dir") from None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``browse-dataset`` on an argparse subparsers object."""
    from seglab.config import DictAction

    p = subparsers.add_parser("browse-dataset", help="save the split's augmented samples with masks overlaid",
                              description=__doc__)
    p.add_argument("config", help="config file")
    p.add_argument("--split", default="train", choices=["train", "val", "test"])
    p.add_argument("--output-dir", default="browse_dataset", help="folder for the PNGs (default: browse_dataset)")
    p.add_argument("--max-items", type=int, default=20, help="how many samples to render (default: 20)")
    p.add_argument("--alpha", type=float, default=0.5, help="mask opacity")
    p.add_argument("--not-show", action="store_true", help="only write files, open no window")
    p.add_argument("--show-interval", type=float, default=2.0, help="seconds per window")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, help="override config keys")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Render the samples for ``args``; 0 on success."""
    cfg = load_config(args.config, args.cfg_options)
    datasets = [build_dataset(c) for c in split_dataset_cfgs(cfg, args.split)]
    paths = browse_dataset(datasets, args.output_dir, args.max_items, args.alpha,
                           show=not args.not_show and bool(os.environ.get("DISPLAY")),
                           show_interval=args.show_interval)
    print(f"wrote {len(paths)} images to {args.output_dir}")
    return 0
