"""Timing helpers of bench_models.py: interleaved repeats of both libraries and their medians."""

from __future__ import annotations

import multiprocessing
import statistics
import time
import traceback
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


# None: every function runs in this process. A callable: each function runs in its own forked process,
# which first calls ISOLATE(name) (``--isolate``).
ISOLATE: Callable[[str], None] | None = None


def use_isolated_processes(prepare: Callable[[str], None]) -> None:
    """Run each timed function in its own forked process, set up by ``prepare(name)`` (``--isolate``, CPU)."""
    global ISOLATE
    ISOLATE = prepare


def _guarded(conn: Any, body: Callable[[Any], None]) -> None:
    try:
        body(conn)
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def _start_forked(body: Callable[[Any], None]) -> tuple[Any, Any]:
    """A forked process (it inherits the built models and closures) running ``body(conn)``; (process, conn)."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_guarded, args=(child, body), daemon=True)
    proc.start()
    return proc, parent


def _reply(conn: Any, name: str) -> Any:
    """The next value a forked process sends; its exception, with its traceback, raised here."""
    kind, value = conn.recv()
    if kind == "error":
        raise RuntimeError(f"{name!r} failed in its process:\n{value}")
    return value


def run_forked(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a forked process; its (picklable) result, or its exception raised here."""
    proc, conn = _start_forked(lambda c: c.send(("ok", fn(*args))))
    try:
        return _reply(conn, getattr(fn, "__name__", repr(fn)))
    finally:
        proc.join()


def _timing_loop(name: str, fn: Callable[[], Any], warmup: int) -> Callable[[Any], None]:
    """The body of a process that times ``fn`` on request with its own clock (process time covers only itself)."""
    def body(conn: Any) -> None:
        ISOLATE(name)
        for _ in range(warmup):
            fn()
        conn.send(("ready", None))
        while conn.recv():
            t0 = CLOCK()
            fn()
            conn.send(("time", CLOCK() - t0))

    return body


def _interleaved_isolated(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int) -> dict[str, list[float]]:
    """:func:`interleaved` with one forked process per function, the same rotation of the order."""
    conns, procs = {}, []
    try:
        for name, fn in fns.items():  # one at a time: a warm-up never overlaps another's
            proc, conns[name] = _start_forked(_timing_loop(name, fn, warmup))
            procs.append(proc)
            _reply(conns[name], name)
        names = list(fns)
        times: dict[str, list[float]] = {n: [] for n in names}
        for r in range(repeats):
            for n in names[r % len(names):] + names[: r % len(names)]:
                conns[n].send(True)
                times[n].append(_reply(conns[n], n))
        return times
    finally:
        for conn in conns.values():
            try:
                conn.send(False)
            except (BrokenPipeError, OSError):
                pass
        for proc in procs:
            proc.join(timeout=60)


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int, device: Any) -> dict[str, list[float]]:
    """Seconds per call of each function; each repeat runs all of them, rotating the order."""
    if ISOLATE is not None:
        return _interleaved_isolated(fns, repeats, warmup)
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


def matmul_peak_flops(device: Any, n: int = 1024, repeats: int = 10) -> float:
    """Best fp32 FLOP/s of an (n x n) @ (n x n) matmul over ``repeats`` calls (after one warm-up), on ``CLOCK``."""
    import torch

    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t0 = CLOCK()
        torch.mm(a, b)
        sync(device)
        best = min(best, CLOCK() - t0)
    return 2 * n**3 / best


def add_peak_shares(entry: dict[str, Any], flops: float, peak: float) -> dict[str, Any]:
    """Add ``gflop`` (per timed call) and each timed library's ``share_of_peak`` (flops / median time / peak)."""
    entry["gflop"] = round(flops / 1e9, 3)
    entry["share_of_peak"] = {n[:-3]: round(flops / (ms / 1e3) / peak, 3)
                              for n, ms in entry.items() if n.endswith("_ms") and ms > 0}
    return entry


def summarize(times: dict[str, list[float]], per_item: int = 1) -> dict[str, Any]:
    """Medians (ms, items/s) and the seglab/MMSeg time ratio."""
    med = {n: statistics.median(t) for n, t in times.items()}
    out: dict[str, Any] = {f"{n}_ms": round(1000 * m, 3) for n, m in med.items()}
    out.update({f"{n}_items_per_s": round(per_item / m, 2) for n, m in med.items()})
    out["ratio_seglab_over_mmseg"] = round(med["seglab"] / med["mmseg"], 3)
    out["spread_pct"] = {n: round(100 * (max(t) - min(t)) / med[n], 1) for n, t in times.items()}
    return out
