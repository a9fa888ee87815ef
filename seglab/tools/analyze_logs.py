"""``seglab analyze-logs WORK_DIR --keys loss mIoU [--out PNG]``: training curves from ``vis_data/scalars.json``."""
from __future__ import annotations

import argparse
import glob
import json
import os.path as osp
from typing import Any

import cv2

__all__ = ["add_parser", "find_scalar_files", "read_curves", "run"]


def find_scalar_files(work_dir: str) -> list[str]:
    """Every ``scalars.json`` under ``work_dir`` (one per run timestamp), oldest run first."""
    if osp.isfile(work_dir):
        return [work_dir]
    files = sorted(glob.glob(osp.join(work_dir, "**", "scalars.json"), recursive=True))
    if not files:
        raise FileNotFoundError(f"no scalars.json under {work_dir} (the runner writes <timestamp>/vis_data/scalars.json)")
    return files


def read_curves(files: list[str], keys: list[str]) -> dict[str, tuple[list[float], list[float]]]:
    """``{key: (steps, values)}`` from JSON-lines scalar files; a missing key raises, naming the keys there are.

    Runs that resumed repeat steps: a later record of the same step replaces the earlier one.
    """
    found: dict[str, dict[float, float]] = {k: {} for k in keys}
    available: set[str] = set()
    for path in files:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{n}: not a JSON line ({exc.msg})") from None
                available.update(k for k in record if k != "step")
                for key in keys:
                    if isinstance(record.get(key), (int, float)):
                        found[key][float(record.get("step", n))] = float(record[key])
    missing = [k for k in keys if not found[k]]
    if missing:
        raise KeyError(f"no values for {missing} in {', '.join(files)}; keys there: {sorted(available) or 'none'}")
    return {k: (sorted(v), [v[s] for s in sorted(v)]) for k, v in found.items()}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``analyze-logs`` on an argparse subparsers object."""
    p = subparsers.add_parser("analyze-logs", help="plot training curves from a work dir", description=__doc__)
    p.add_argument("work_dir", help="work dir of a run (or a scalars.json file)")
    p.add_argument("--keys", nargs="+", default=["loss"], help="scalars to plot, e.g. loss mIoU (default: loss)")
    p.add_argument("--out", help="PNG to write (default: WORK_DIR/curves.png)")
    p.add_argument("--width", type=int, default=800, help="figure width in pixels (default: 800)")
    p.add_argument("--panel-height", type=int, default=300, help="height of each key's panel (default: 300)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Read the curves, print a summary line per key, write the figure; 0 on success."""
    from seglab.visualization import curves_figure

    try:
        files = find_scalar_files(args.work_dir)
        curves = read_curves(files, args.keys)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise SystemExit(f"seglab analyze-logs: {exc.args[0]}") from None
    for key, (steps, values) in curves.items():
        print(f"{key}: {len(values)} points, steps {steps[0]:.0f}..{steps[-1]:.0f}, first {values[0]:.4g}, "
              f"last {values[-1]:.4g}, min {min(values):.4g}, max {max(values):.4g}")
    out = args.out or osp.join(args.work_dir if osp.isdir(args.work_dir) else osp.dirname(args.work_dir), "curves.png")
    figure = curves_figure(curves, width=args.width, height=args.panel_height)
    if not cv2.imwrite(out, figure[..., ::-1]):
        raise SystemExit(f"seglab analyze-logs: cannot write {out} (folder missing or not a .png name?)")
    print(f"seglab analyze-logs: wrote {out}")
    return 0
