"""Write the CamVid training record (JSON + the per-class table) from a finished ``seglab train`` work dir.

    python benchmarks/camvid_record.py WORK_DIR --command "seglab train ..." --out benchmarks/results/camvid

Reads ``<timestamp>/<timestamp>.log`` (the last per-class IoU table, the log's first and last time stamps)
and ``vis_data/scalars.json`` (the validation curve, seconds per iteration); the learning-curve PNG comes
from ``seglab analyze-logs WORK_DIR --keys loss mIoU --out OUT/curves.png``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import platform
import re
import statistics

import torch

_STAMP = re.compile(r"^(\d\d/\d\d \d\d:\d\d:\d\d) - seglab")
_ROW = re.compile(r"^\|\s*([\w-]+)\s*\|\s*([\d.]+|nan)\s*\|\s*([\d.]+|nan)\s*\|$")


def read_log(path: str) -> tuple[float, list[dict]]:
    """(wall seconds from the first to the last log line, the last per-class table as rows)."""
    stamps, tables, rows = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = _STAMP.match(line)
            if m:
                stamps.append(dt.datetime.strptime(m.group(1), "%m/%d %H:%M:%S"))
            m = _ROW.match(line.strip())
            if m and m.group(1) != "Class":
                rows.append(dict(cls=m.group(1), IoU=float(m.group(2)), Acc=float(m.group(3))))
            elif rows and not line.startswith(("|", "+")):
                tables.append(rows)
                rows = []
    if rows:
        tables.append(rows)
    if not tables:
        raise SystemExit(f"{path}: no per-class table (did validation run?)")
    return (stamps[-1] - stamps[0]).total_seconds(), tables[-1]


def main() -> None:
    """Parse the work dir and write record.json and record.md."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("work_dir")
    p.add_argument("--command", required=True, help="the exact command that trained the run")
    p.add_argument("--out", default="benchmarks/results/camvid")
    p.add_argument("--note", default="", help="anything a reader must know about the run (pauses, load)")
    args = p.parse_args()
    log = sorted(glob.glob(os.path.join(args.work_dir, "*", "*.log")))[-1]
    wall, table = read_log(log)
    scalars = [json.loads(s) for s in open(glob.glob(os.path.join(os.path.dirname(log), "vis_data", "scalars.json"))[0])]
    val = [dict(step=s["step"], mIoU=s["mIoU"], aAcc=s["aAcc"], mAcc=s.get("mAcc")) for s in scalars if "mIoU" in s]
    iter_times = [s["time"] for s in scalars if "time" in s]
    record = dict(
        command=args.command, work_dir_log=os.path.basename(log), note=args.note,
        device=f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        wall_seconds_first_to_last_log_line=wall,
        median_seconds_per_iteration=statistics.median(iter_times) if iter_times else None,
        iterations=max(s["step"] for s in scalars if "loss" in s),
        val_curve=val, final_val=val[-1], best_mIoU=max(v["mIoU"] for v in val), per_class=table,
    )
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "record.json"), "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    lines = ["| class | IoU | Acc |", "|---|---:|---:|"] + [f"| {r['cls']} | {r['IoU']:.2f} | {r['Acc']:.2f} |" for r in table]
    curve = ", ".join(f"{v['step']}: {v['mIoU']:.2f}" for v in val)
    with open(os.path.join(args.out, "record.md"), "w") as f:
        f.write(f"val mIoU by iteration: {curve}\n\nfinal per-class (val, 101 images, 360x480):\n\n" + "\n".join(lines) + "\n")
    print(json.dumps(record["final_val"]), f"wall {wall:.0f} s")


if __name__ == "__main__":
    main()
