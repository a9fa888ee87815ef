"""``seglab serve CONFIG CHECKPOINT``: a local web page and HTTP API that segment uploaded images.

Open http://127.0.0.1:8000/ to drop an image and see the overlay, the legend and each class's area share;
programs ``POST`` image bytes to ``/predict`` (JSON) or ``/predict.png`` (the index PNG). One model copy
serves every request; concurrent requests are batched (``--max-batch``). See docs/serving.md.
"""
from __future__ import annotations

import argparse
import ipaddress
import os.path as osp
import warnings
from typing import Any

__all__ = ["add_parser", "is_loopback", "run"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to a public interface


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``serve`` on an argparse subparsers object."""
    from seglab.config import DictAction

    p = subparsers.add_parser("serve", help="a local web page and HTTP API (POST /predict) for a checkpoint",
                              description=__doc__)
    p.add_argument("config", help="config file")
    p.add_argument("checkpoint", help="checkpoint file (.pth or .safetensors)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default: 127.0.0.1, this machine only; 0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--max-upload-mb", type=float, default=20.0,
                   help="largest accepted request body in MiB; larger uploads get 413 (default: 20)")
    p.add_argument("--max-pixels", type=int, default=4096 * 4096,
                   help="largest accepted width x height, read from the image header before decoding; "
                        "larger images get 400 (default: 16777216 = 4096x4096)")
    p.add_argument("--max-batch", "--batch-size", dest="max_batch", type=int, default=4,
                   help="most queued requests predicted in one forward pass (default: 4)")
    p.add_argument("--batch-wait-ms", type=float, default=5.0,
                   help="how long the first queued request waits for others to join its batch (default: 5)")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, metavar="KEY=VALUE",
                   help="override config entries, e.g. model.test_cfg.mode=slide")
    p.set_defaults(func=run)
    return p


def _check(args: argparse.Namespace) -> None:
    if not 0 <= args.port <= 65535:
        raise SystemExit(f"seglab serve: --port must be in [0, 65535], got {args.port}")
    for name, value in (("--max-upload-mb", args.max_upload_mb), ("--max-pixels", args.max_pixels),
                        ("--max-batch", args.max_batch)):
        if value <= 0:
            raise SystemExit(f"seglab serve: {name} must be > 0, got {value}")
    if args.batch_wait_ms < 0:
        raise SystemExit(f"seglab serve: --batch-wait-ms must be >= 0, got {args.batch_wait_ms}")
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f"seglab serve: checkpoint not found: {args.checkpoint}")


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted (Ctrl-C); 0 on a clean stop."""
    import torch

    from seglab.apis import init_model
    from seglab.apis.server import SegServer

    from ._common import load_config

    _check(args)
    if not is_loopback(args.host):
        warnings.warn(f"seglab serve: binding {args.host} makes the server reachable from other machines; it has "
                      "no authentication. Use the default --host 127.0.0.1 unless that is what you want.",
                      stacklevel=1)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = init_model(load_config(args.config, args.cfg_options), args.checkpoint, device=device)
    server = SegServer(model, args.host, args.port, max_upload_bytes=int(args.max_upload_mb * (1 << 20)),
                       max_pixels=args.max_pixels, max_batch=args.max_batch, max_wait=args.batch_wait_ms / 1000)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"seglab serve: {len(server.classes)} classes on {device}; open http://{host}:{server.port}/ "
          f"(POST images to /predict or /predict.png); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("seglab serve: stopped")
    finally:
        server.server_close()
    return 0
