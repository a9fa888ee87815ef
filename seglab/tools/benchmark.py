"""``seglab benchmark CONFIG [CHECKPOINT]``: inference throughput, latency percentiles and peak memory.

Times ``model.predict`` (the full test-time forward with resizing and argmax) on random images of
``--shape``; the data preprocessor runs once outside the timed loop, so the numbers are the model's.
"""
from __future__ import annotations

import argparse
import contextlib
import resource
import sys
import time
from typing import Any

import numpy as np
import torch

__all__ = ["add_parser", "benchmark_model", "run"]


def _peak_memory_mb(device: torch.device) -> tuple[float, str]:
    """Peak memory so far: CUDA allocator peak on a GPU, else the process's peak resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "peak CUDA memory allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (2**20 if sys.platform == "darwin" else 2**10), "peak process RSS"  # bytes on macOS, KiB on Linux


def benchmark_model(model: torch.nn.Module, shape: tuple[int, int], batch_size: int = 1, iters: int = 20,
                    warmup: int = 5, amp: bool = False, channels_last: bool = False,
                    device: torch.device | str = "cpu") -> dict[str, float]:
    """Time ``iters`` predict calls after ``warmup`` ones: images/s, latency mean/p50/p90 (ms), peak memory (MiB)."""
    from seglab.structures import SegDataSample

    device = torch.device(device)
    h, w = shape
    channels = next((m.in_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)), 3)
    gen = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (channels, h, w), dtype=torch.uint8, generator=gen) for _ in range(batch_size)]
    samples = [SegDataSample(metainfo=dict(ori_shape=(h, w), img_shape=(h, w), pad_shape=(h, w))) for _ in images]
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=images, data_samples=samples), False)
    inputs = data["inputs"].to(device)
    if channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    autocast = (torch.autocast(device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16)
                if amp else contextlib.nullcontext())
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    with torch.no_grad(), autocast:
        for i in range(warmup + iters):
            start = time.perf_counter()
            model(inputs, data["data_samples"], mode="predict")
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    latency = np.asarray(times) * 1000
    peak, _ = _peak_memory_mb(device)
    return dict(images_per_s=batch_size * len(times) / float(np.sum(times)), latency_ms_mean=float(latency.mean()),
                latency_ms_p50=float(np.percentile(latency, 50)), latency_ms_p90=float(np.percentile(latency, 90)),
                peak_memory_mb=peak)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``benchmark`` on an argparse subparsers object."""
    from seglab.config import DictAction

    p = subparsers.add_parser("benchmark", help="inference speed and memory of a config's model", description=__doc__)
    p.add_argument("config", help="config file")
    p.add_argument("checkpoint", nargs="?", default=None, help="checkpoint (default: random weights)")
    p.add_argument("--shape", type=int, nargs=2, default=[512, 1024], metavar=("H", "W"),
                   help="image height and width (default: 512 1024)")
    p.add_argument("--batch-size", type=int, default=1, help="images per forward (default: 1)")
    p.add_argument("--iters", type=int, default=20, help="timed iterations (default: 20)")
    p.add_argument("--warmup", type=int, default=5, help="untimed iterations first (default: 5)")
    p.add_argument("--amp", action="store_true", help="autocast (float16 on CUDA, bfloat16 on CPU)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model first")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, help="override config keys")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Build (and load) the model, benchmark it, print one line per field; 0 on success."""
    from seglab.apis import init_model

    from ._common import load_config

    for name in ("iters", "batch_size"):
        if getattr(args, name) < 1:
            raise SystemExit(f"seglab benchmark: --{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0:
        raise SystemExit("seglab benchmark: --warmup must be >= 0")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cfg = load_config(args.config, args.cfg_options)
    model = init_model(cfg, args.checkpoint, device=device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if args.compile:
        # Compile the network body; the data preprocessor and post-processing stay eager.
        eager = model.extract_feat
        model.extract_feat = torch.compile(eager)
        try:  # compilation happens at the first call: try it here, outside the timings
            benchmark_model(model, tuple(args.shape), args.batch_size, 1, 0, args.amp, args.channels_last, device)
        except Exception as exc:  # noqa: BLE001 - any compiler failure falls back to eager
            print(f"seglab benchmark: torch.compile failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                  "timing the eager model instead", file=sys.stderr)
            model.extract_feat = eager
            args.compile = False
    result = benchmark_model(model, tuple(args.shape), args.batch_size, args.iters, args.warmup, args.amp,
                             args.channels_last, device)
    _, what = _peak_memory_mb(device)
    print(f"device: {device}  shape: {args.shape[0]}x{args.shape[1]}  batch size: {args.batch_size}  "
          f"amp: {args.amp}  compile: {args.compile}  channels_last: {args.channels_last}  iters: {args.iters}")
    print(f"images/s: {result['images_per_s']:.2f}")
    print(f"latency ms: mean {result['latency_ms_mean']:.2f}  p50 {result['latency_ms_p50']:.2f}  "
          f"p90 {result['latency_ms_p90']:.2f}")
    print(f"peak memory MiB: {result['peak_memory_mb']:.1f} ({what})")
    return 0
