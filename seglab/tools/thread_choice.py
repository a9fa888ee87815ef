"""Pick torch's intra-op thread count by timing the first real training iterations with each candidate.

On an idle 2-core machine two threads run the demo's step ~1.7x faster than one; on a busy one a
second OpenMP thread spins for a descheduled peer and the step gets ~25x slower. Which holds is
only known by measuring, so ``seglab demo --threads auto`` times a few of its own training
iterations (they count as training: nothing is repeated) with each candidate and keeps the faster.
"""
from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from seglab.engine.hooks.hook import Hook
from seglab.engine.hooks.protocol import RunnerLike

__all__ = ["ThreadChoiceHook", "pick_threads", "thread_candidates"]


def thread_candidates(available: int) -> tuple[int, ...]:
    """The thread counts worth timing on a machine where torch would use ``available`` threads: 1, 2 and all."""
    if available < 1:
        raise ValueError(f"available threads must be >= 1, got {available}")
    return tuple(sorted({1, min(2, available), available}))


def pick_threads(timings: Mapping[int, Sequence[float]]) -> int:
    """The thread count with the lowest median iteration time (on a tie, the fewer threads)."""
    measured = {n: times for n, times in timings.items() if times}
    if not measured:
        raise ValueError("pick_threads needs at least one timed iteration")
    return min(measured, key=lambda n: (statistics.median(measured[n]), n))


class ThreadChoiceHook(Hook):
    """Runs the first training iterations under each candidate thread count, then keeps the fastest.

    The schedule warms every candidate up with ``warmup`` untimed iterations (oneDNN builds its
    kernels on first use), then times ``repeats`` iterations of each, interleaved (1, 2, 1, 2, ...)
    so that a change of machine load during the measurement hits every candidate alike. The time
    of an iteration is the wall clock from ``before_train_iter`` to ``after_train_iter``
    (forward, backward, optimizer step): wall time, because that is what more threads shorten.
    A candidate whose timed iteration takes over ``factor`` times the best median so far is out: its
    remaining timed iterations are not run (on a busy machine two threads take 5 s where one takes
    0.2 s). Afterwards, when more than the fewest threads were chosen and the median of the last
    ``window`` iterations exceeds ``factor`` times the chosen setting's measured time (other work
    arrived), the candidates are timed again. ``clock`` is injectable for tests; ``chosen`` and ``timings``
    hold the latest result.
    """

    priority = "HIGHEST"  # first before and first after the step: the timing holds the step, not other hooks

    def __init__(self, candidates: Sequence[int], warmup: int = 1, repeats: int = 3, factor: float = 2.0,
                 window: int = 10, clock: Callable[[], float] = time.perf_counter) -> None:
        if not candidates or any(int(n) < 1 for n in candidates):
            raise ValueError(f"thread candidates must be a non-empty list of counts >= 1, got {list(candidates)}")
        if warmup < 0 or repeats < 1 or window < 1 or factor <= 1:
            raise ValueError(f"need warmup >= 0, repeats >= 1, window >= 1 and factor > 1, got warmup={warmup}, "
                             f"repeats={repeats}, window={window}, factor={factor}")
        self.candidates = tuple(int(n) for n in candidates)
        self.repeats = repeats
        self.factor = factor
        self.clock = clock
        self._recent: deque[float] = deque(maxlen=window)
        self._start = 0.0
        self._measure(warmup)

    def _measure(self, warmup: int) -> None:
        """Start a new schedule: ``warmup`` untimed rounds, then ``repeats`` timed rounds over the candidates."""
        self.schedule = [(n, False) for _ in range(warmup) for n in self.candidates]
        self.schedule += [(n, True) for _ in range(self.repeats) for n in self.candidates]
        self.timings: dict[int, list[float]] = {n: [] for n in self.candidates}
        self.chosen: int | None = None
        self._step = 0  # iterations of the schedule done (a resumed run starts its own count)
        self._recent.clear()

    def before_train_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None) -> None:
        """Set the thread count a scheduled iteration is run with; start the iteration's clock."""
        if self._step < len(self.schedule):
            torch.set_num_threads(self.schedule[self._step][0])
        self._start = self.clock()

    def after_train_iter(self, runner: RunnerLike, batch_idx: int, data_batch: Any = None,
                         outputs: dict | None = None) -> None:
        """Record the iteration's time; choose after the schedule's last one; time again after a slowdown."""
        elapsed = self.clock() - self._start
        if self._step < len(self.schedule):
            threads, timed = self.schedule[self._step]
            if timed:
                self.timings[threads].append(elapsed)
                self._drop_losers()
            self._step += 1
            if self._step == len(self.schedule):
                self._choose(runner)
            return
        if self.chosen is None or self.chosen == min(self.candidates):
            return  # the fewest threads do not collapse under load: other work slowing them favours no other
        self._recent.append(elapsed)
        measured = statistics.median(self.timings[self.chosen])
        now = statistics.median(self._recent)
        if len(self._recent) == self._recent.maxlen and now > self.factor * measured:
            runner.logger.info(f"threads auto: iterations with {self.chosen} now take {now:.3f} s "
                               f"({now / measured:.1f}x the {measured:.3f} s measured); timing the settings again")
            self._measure(warmup=0)

    def _drop_losers(self) -> None:
        """Leave out the remaining timed iterations of candidates already ``factor`` times slower than the best."""
        best = min(statistics.median(t) for t in self.timings.values() if t)
        out = {n for n, t in self.timings.items() if t and t[-1] > self.factor * best}
        done = self.schedule[:self._step + 1]
        self.schedule = done + [(n, timed) for n, timed in self.schedule[self._step + 1:] if n not in out]

    def after_train(self, runner: RunnerLike) -> None:
        """A run shorter than the schedule still ends on the fastest setting measured so far."""
        if self.chosen is None and any(self.timings.values()):
            self._choose(runner)

    def _choose(self, runner: RunnerLike) -> None:
        self.chosen = pick_threads(self.timings)
        torch.set_num_threads(self.chosen)
        measured = ", ".join(f"{n} thread{'s' if n > 1 else ''} {statistics.median(t):.3f} s ({len(t)} timed)"
                             for n, t in self.timings.items() if t)
        runner.logger.info(f"threads auto: median training iteration time {measured}; "
                           f"using {self.chosen} from here on")
