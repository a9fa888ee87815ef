"""Timing helpers of bench_models.py: interleaved repeats of both libraries and their medians."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def sync(device: Any) -> None:
    """Wait for queued GPU work so that wall time covers it."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


CLOCK = time.perf_counter


def use_process_clock() -> None:
    """Time CPU seconds of this process instead of the wall clock (``--clock process``)."""
    global CLOCK
    CLOCK = time.process_time


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int, device: Any) -> dict[str, list[float]]:
    """Seconds per call of each function; each repeat runs all of them, rotating the order."""
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    sync(device)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for n in order:
            sync(device)
            t0 = CLOCK()
            fns[n]()
            sync(device)
            times[n].append(CLOCK() - t0)
    return times


def summarize(times: dict[str, list[float]], per_item: int = 1) -> dict[str, Any]:
    """Medians (ms, items/s) and the seglab/MMSeg time ratio."""
    med = {n: statistics.median(t) for n, t in times.items()}
    out: dict[str, Any] = {f"{n}_ms": round(1000 * m, 3) for n, m in med.items()}
    out.update({f"{n}_items_per_s": round(per_item / m, 2) for n, m in med.items()})
    out["ratio_seglab_over_mmseg"] = round(med["seglab"] / med["mmseg"], 3)
    out["spread_pct"] = {n: round(100 * (max(t) - min(t)) / med[n], 1) for n, t in times.items()}
    return out
