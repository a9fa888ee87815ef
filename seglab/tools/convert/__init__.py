"""``seglab dataset-convert NAME SRC DST``: official dataset downloads -> MMSeg's folder layouts;
``binary-mask`` and ``palette-mask`` turn your own masks into index PNGs."""
from __future__ import annotations

import argparse
import importlib
import inspect
import os
import time
from types import ModuleType
from typing import Any

__all__ = ["CONVERTERS", "add_parser", "get_converter", "run"]

# name -> module (imported only when used, so optional extras load lazily)
CONVERTERS = {
    "cityscapes": "cityscapes",
    "drive": "drive",
    "stare": "stare",
    "chase_db1": "chase_db1",
    "hrf": "hrf",
    "potsdam": "potsdam",
    "vaihingen": "vaihingen",
    "loveda": "loveda",
    "coco_stuff164k": "coco_stuff164k",
    "coco_stuff10k": "coco_stuff10k",
    "voc_aug": "voc_aug",
    "pascal_context": "pascal_context",
    "isaid": "isaid",
    "synapse": "synapse",
    # generic: your own masks
    "binary-mask": "binary_mask",
    "palette-mask": "palette_mask",
}


def get_converter(name: str) -> ModuleType:
    """The converter module for ``name`` (it has ``convert(src, dst, **options)`` and ``add_arguments``)."""
    if name not in CONVERTERS:
        raise ValueError(f"unknown dataset '{name}'; converters: {', '.join(sorted(CONVERTERS))}")
    return importlib.import_module(f"{__name__}.{CONVERTERS[name]}")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``dataset-convert`` (one sub-command per dataset) on an argparse subparsers object."""
    p = subparsers.add_parser("dataset-convert", help="convert an official dataset download (or your own masks) to MMSeg's layout",
                              description=__doc__)
    names = p.add_subparsers(dest="dataset", metavar="NAME", required=True)
    for name in CONVERTERS:
        module = get_converter(name)
        sub = names.add_parser(name, help=(module.__doc__ or "").split("\n")[0], description=module.__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("src", help="the downloaded archive(s) / folder")
        sub.add_argument("dst", help="output dataset root (data_root in the config)")
        module.add_arguments(sub)
        sub.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run the chosen converter with the parsed options; print the counts; 0 on success."""
    module = get_converter(args.dataset)
    accepted = inspect.signature(module.convert).parameters
    options = {k: v for k, v in vars(args).items() if k in accepted and k not in ("src", "dst")}
    os.makedirs(args.dst, exist_ok=True)
    start = time.monotonic()
    counts = module.convert(args.src, args.dst, **options)
    summary = ", ".join(f"{k}: {v}" for k, v in counts.items())
    print(f"{args.dataset}: wrote {args.dst} ({summary}) in {time.monotonic() - start:.1f}s")
    return 0
