"""``seglab export CONFIG CHECKPOINT --format onnx|torchscript``: export the model and check it against PyTorch."""
from __future__ import annotations

import argparse
import os.path as osp
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``export`` on an argparse subparsers object."""
    from seglab.config import DictAction

    p = subparsers.add_parser("export", help="export a model to ONNX or TorchScript and check it against PyTorch",
                              description=__doc__)
    p.add_argument("config", help="config file")
    p.add_argument("checkpoint", help="checkpoint file (.pth or .safetensors)")
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx", help="default: onnx")
    p.add_argument("--shape", type=int, nargs=2, default=[512, 512], metavar=("H", "W"),
                   help="input height and width to export (and check) at (default: 512 512)")
    p.add_argument("--dynamic", action="store_true",
                   help="dynamic batch, height and width (also checked at batch 2 and a second size)")
    p.add_argument("--out", help="output file (default: <config name>.onnx or .pt in the current folder)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version (default: 17)")
    p.add_argument("--output", choices=["labels", "logits"], default="labels",
                   help="labels (N, 1, H, W) int64 as MMDeploy exports them (default), or logits (N, K, H, W)")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest accepted |exported - PyTorch| of the logits (default: 1e-4)")
    p.add_argument("--no-verify", action="store_true", help="skip the check against PyTorch")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, help="override config keys")
    p.set_defaults(func=run)
    return p


def _input_note(model: Any) -> str:
    """What the exported input expects: the data preprocessor's channel order, mean and std."""
    prep = getattr(model, "data_preprocessor", None)
    mean, std = getattr(prep, "mean", None), getattr(prep, "std", None)
    order = "RGB" if getattr(prep, "channel_conversion", False) else "BGR (as cv2 loads them)"
    if mean is None or std is None:
        return "input: float32 (N, C, H, W), not normalised by the model"
    fmt = ", ".join
    return (f"input: float32 (N, C, H, W), channels {order}, normalised as (x - mean) / std with "
            f"mean=[{fmt(f'{v:g}' for v in mean.flatten().tolist())}] std=[{fmt(f'{v:g}' for v in std.flatten().tolist())}]")


def run(args: argparse.Namespace) -> int:
    """Load the model, export it, check it; 0 on success, 1 when the export fails or disagrees with PyTorch."""
    from seglab.apis import init_model
    from seglab.apis.export import SUFFIXES, ExportError, export_model

    from ._common import load_config

    cfg = load_config(args.config, args.cfg_options)
    model = init_model(cfg, args.checkpoint, device="cpu")
    out = args.out or osp.splitext(osp.basename(args.config))[0] + SUFFIXES[args.format]
    try:
        result = export_model(model, out, format=args.format, shape=tuple(args.shape), dynamic=args.dynamic,
                              opset=args.opset, output=args.output, verify=not args.no_verify,
                              tolerance=args.tolerance)
    except ExportError as exc:
        print(f"seglab export: {exc}")
        return 1
    classes = (getattr(model, "dataset_meta", None) or {}).get("classes") or []
    print(f"exported {args.format} to {result.path}")
    print(_input_note(model))
    if args.output == "labels":
        print(f"output: int64 (N, 1, H, W) class labels at the input size ({len(classes)} classes)")
    else:
        print(f"output: float32 (N, {len(classes)}, H, W) logits at the input size")
    if result.swapped_pools:
        print(f"note: {result.swapped_pools} adaptive average pooling(s) exported as averaging matrix products")
    for shape, diff in result.max_abs_diff.items():
        if args.output == "labels":
            print(f"check at input {shape}: max abs difference of the labels {diff:g}; "
                  f"{result.label_mismatches.get(shape, 0)} labels differ (only ties within the tolerance may)")
        else:
            print(f"check at input {shape}: max abs difference of the logits {diff:.3g} "
                  f"(tolerance {args.tolerance:g})")
    return 0
