"""``seglab infer CONFIG CHECKPOINT INPUT...``: images, folders, globs and videos -> pred/ label PNGs, vis/ overlays.

Videos (``.mp4``, ``.avi``...) give ``vis/<name>.mp4`` at the source's fps and size and ``pred/<name>/<frame>.png``
(``--no-frame-pngs`` skips those). ``--tile N`` predicts big images tile by tile (see ``seglab.apis.tiled``
for the blending rule). Under ``torchrun ... --launcher pytorch`` each process predicts every
``WORLD_SIZE``-th input, starting at its rank, and writes its own share.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
from typing import Any

import cv2
import numpy as np

__all__ = ["add_parser", "predict_tiled_file", "run", "shard"]


def shard(items: list, rank: int, world_size: int) -> list:
    """The inputs of process ``rank``: every ``world_size``-th item starting at ``rank`` (disjoint, complete)."""
    return items[rank::world_size]


def predict_tiled_file(inferencer: Any, path: str, name: str, out_dir: str, tile: int, overlap: int,
                       opacity: float = 0.8) -> tuple[str, str]:
    """Tiled inference of one image file: ``out_dir/pred/<name>.png`` and ``out_dir/vis/<name>.png``.

    Labels and overlay are first filled into disk-backed arrays (``.npy`` next to the outputs, removed
    afterwards), so memory holds one tile plus what the PNG encoder needs.
    """
    from seglab.apis.inferencer import write_label_png
    from seglab.apis.tiled import open_image, tiled_predict

    source = open_image(path)
    height, width, _ = source.shape
    pred_path, vis_path = osp.join(out_dir, "pred", f"{name}.png"), osp.join(out_dir, "vis", f"{name}.png")
    for folder in (osp.dirname(pred_path), osp.dirname(vis_path)):
        os.makedirs(folder, exist_ok=True)
    dtype = np.uint8 if inferencer.num_classes <= 256 else np.uint16
    pred_tmp, vis_tmp = pred_path + ".tmp.npy", vis_path + ".tmp.npy"
    try:
        pred = np.lib.format.open_memmap(pred_tmp, mode="w+", dtype=dtype, shape=(height, width))
        vis = np.lib.format.open_memmap(vis_tmp, mode="w+", dtype=np.uint8, shape=(height, width, 3))
        palette = (getattr(inferencer.model, "dataset_meta", None) or {}).get("palette")
        tiled_predict(inferencer.model, source, tile, overlap, pred, vis, palette, opacity)
        write_label_png(pred_path, pred, inferencer.num_classes)
        if not cv2.imwrite(vis_path, np.ascontiguousarray(vis[..., ::-1])):
            raise OSError(f"could not write {vis_path}")
        del pred, vis
    finally:
        for tmp in (pred_tmp, vis_tmp):
            if osp.exists(tmp):
                os.unlink(tmp)
    return pred_path, vis_path


def _predict_items(inferencer: Any, items: list, batch_size: int) -> Any:
    """Yield ``(item, name, sample)``; the names of ``expand_inputs`` (sub-folders kept) stay as they are."""
    from seglab.apis import inference_model

    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        for (item, name), sample in zip(chunk, inference_model(inferencer.model, [item for item, _ in chunk])):
            yield item, name, sample


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``infer`` on an argparse subparsers object."""
    from seglab.config import DictAction

    p = subparsers.add_parser("infer", help="predict images, folders, globs or videos: label PNGs in pred/, "
                              "overlays in vis/", description=__doc__)
    p.add_argument("config", help="config file")
    p.add_argument("checkpoint", help="checkpoint file (.pth or .safetensors) or URL")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image or video files, folders (searched recursively for images) or globs")
    p.add_argument("--out-dir", default="outputs", help="where pred/ and vis/ go (default: outputs)")
    p.add_argument("--batch-size", type=int, default=1, help="images (or video frames) per forward pass")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--opacity", type=float, default=0.8, help="overlay opacity in [0, 1] (default: 0.8)")
    p.add_argument("--tta", action="store_true", help="test-time augmentation (the config's tta_pipeline/tta_model)")
    p.add_argument("--amp", action="store_true",
                   help="predict under autocast: float16 on CUDA, bfloat16 on the CPU (slow on CPUs without bf16 units)")
    p.add_argument("--tile", type=int, default=None, metavar="N",
                   help="predict each image in N x N tiles (images larger than memory; .npy and uncompressed "
                        "TIFF are read window by window)")
    p.add_argument("--tile-overlap", type=int, default=256, metavar="PIXELS",
                   help="overlap between tiles; each tile keeps its center, dropping PIXELS/2 at inner borders "
                        "(default: 256)")
    p.add_argument("--no-frame-pngs", action="store_true", help="videos: write only the overlay video, no pred/ PNGs")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, metavar="KEY=VALUE",
                   help="override config entries, e.g. model.test_cfg.mode=slide")
    p.add_argument("--launcher", choices=["none", "pytorch"], default="none",
                   help="'pytorch' under torchrun: the inputs are split across the processes")
    p.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    p.set_defaults(func=run)
    return p


def _check(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise SystemExit(f"seglab infer: --batch-size must be >= 1, got {args.batch_size}")
    if not 0.0 <= args.opacity <= 1.0:
        raise SystemExit(f"seglab infer: --opacity must be in [0, 1], got {args.opacity}")
    if args.tile is not None and not 0 <= args.tile_overlap < args.tile:
        raise SystemExit(f"seglab infer: --tile-overlap must be in [0, --tile), got {args.tile_overlap} "
                         f"with --tile {args.tile}")
    if not osp.isfile(args.checkpoint) and "://" not in args.checkpoint:
        raise SystemExit(f"seglab infer: checkpoint not found: {args.checkpoint}")


def run(args: argparse.Namespace) -> int:
    """Predict the inputs of ``args`` (this process's share of them under torchrun); 0 on success."""
    import torch

    from seglab.apis import SegInferencer
    from seglab.apis.inferencer import expand_inputs
    from seglab.apis.video import is_video, predict_video
    from seglab.engine.distributed import destroy_dist, init_dist

    from ._common import load_config, progress

    _check(args)
    cfg = load_config(args.config, args.cfg_options)
    videos = [(v, osp.splitext(osp.basename(v))[0]) for v in args.inputs if is_video(v) and osp.isfile(v)]
    images = [i for i in args.inputs if not (is_video(i) and osp.isfile(i))]
    try:
        items = expand_inputs(images)[0] if images else []
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"seglab infer: {exc}") from None
    rank, world_size = init_dist(args.launcher)
    if args.device:
        device = args.device
    elif torch.cuda.is_available():
        device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if world_size > 1 else "cuda"
    else:
        device = "cpu"
    items, videos = shard(items, rank, world_size), shard(videos, rank, world_size)
    inferencer = SegInferencer(cfg, args.checkpoint, device=device, tta=args.tta, amp=args.amp)
    done = frames = 0
    if args.tile is not None:
        for item, name in progress(iter(items), len(items), "infer (tiled)"):
            predict_tiled_file(inferencer, item, name, args.out_dir, args.tile, args.tile_overlap, args.opacity)
            done += 1
    else:
        for item, name, sample in progress(_predict_items(inferencer, items, args.batch_size), len(items), "infer"):
            inferencer.save(item, name, sample, args.out_dir, opacity=args.opacity)
            done += 1
    for path, name in videos:
        frames += predict_video(inferencer, path, args.out_dir, name, args.batch_size, args.opacity,
                                write_frames=not args.no_frame_pngs)
    share = f" (process {rank} of {world_size})" if world_size > 1 else ""
    print(f"seglab infer: {done} images, {len(videos)} videos ({frames} frames){share}; label maps in "
          f"{osp.join(args.out_dir, 'pred')}, overlays in {osp.join(args.out_dir, 'vis')}")
    if args.launcher != "none":
        destroy_dist()
    return 0
