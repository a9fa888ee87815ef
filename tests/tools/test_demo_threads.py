"""seglab demo --threads: 'auto' (default) times real iterations per thread count and keeps the faster in torch."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch

from seglab.cli import build_parser, main
from seglab.tools.thread_choice import ThreadChoiceHook, pick_threads, thread_candidates


@pytest.fixture
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_demo_defaults_to_auto_and_rejects_bad_counts():
    assert build_parser().parse_args(["demo"]).threads == "auto"
    assert build_parser().parse_args(["demo", "--threads", "2"]).threads == 2
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--threads", "many"])
    with pytest.raises(SystemExit, match="--threads must be >= 1 or 'auto'"):
        main(["demo", "--threads", "0"])


def test_candidates_are_one_two_and_all():
    assert thread_candidates(1) == (1,)
    assert thread_candidates(2) == (1, 2)
    assert thread_candidates(8) == (1, 2, 8)
    with pytest.raises(ValueError, match=">= 1"):
        thread_candidates(0)


def test_pick_threads_takes_the_lowest_median():
    # one slow outlier does not lose 2 threads its lead; a collapse (5 s) does
    assert pick_threads({1: [0.21, 0.20, 0.22], 2: [0.12, 0.90, 0.11]}) == 2
    assert pick_threads({1: [0.21, 0.20, 0.22], 2: [5.1, 4.8, 5.3]}) == 1
    assert pick_threads({1: [0.2], 2: [0.2]}) == 1  # a tie keeps the cheaper setting
    assert pick_threads({1: [], 2: [0.3]}) == 2  # an untimed candidate is not a candidate
    with pytest.raises(ValueError, match="at least one"):
        pick_threads({1: [], 2: []})


class _FakeClock:
    """A clock that only moves when ``step()`` runs an iteration: ``cost[threads torch uses now]`` seconds."""

    def __init__(self, cost: dict[int, float]) -> None:
        self.cost, self.now, self.seen = cost, 0.0, []

    def __call__(self) -> float:
        return self.now

    def step(self) -> None:
        self.seen.append(torch.get_num_threads())
        self.now += self.cost[torch.get_num_threads()]


def _train(hook: ThreadChoiceHook, clock: _FakeClock, iterations: int) -> None:
    runner = SimpleNamespace(logger=logging.getLogger("seglab.test_demo_threads"))
    for i in range(iterations):
        hook.before_train_iter(runner, i)
        clock.step()
        hook.after_train_iter(runner, i)
    hook.after_train(runner)


def test_hook_times_each_setting_and_leaves_the_fastest_in_torch(keep_threads, caplog):
    clock = _FakeClock({1: 0.21, 2: 0.12})  # an idle machine: 2 threads 1.75x faster, both timed fully
    hook = ThreadChoiceHook((1, 2), warmup=1, repeats=3, clock=clock)
    with caplog.at_level(logging.INFO, logger="seglab.test_demo_threads"):
        _train(hook, clock, 10)
    # one warm-up each (untimed), then interleaved timed iterations; the rest run on the choice
    assert clock.seen == [1, 2] + [1, 2] * 3 + [2, 2]
    assert hook.timings == {1: [pytest.approx(0.21)] * 3, 2: [pytest.approx(0.12)] * 3}
    assert hook.chosen == 2 and torch.get_num_threads() == 2
    assert "1 thread 0.210 s (3 timed), 2 threads 0.120 s (3 timed); using 2 from here on" in caplog.text


def test_a_collapsed_setting_is_not_timed_again(keep_threads, caplog):
    clock = _FakeClock({1: 0.21, 2: 5.1})  # a busy machine: 2 threads spin for a descheduled peer
    hook = ThreadChoiceHook((1, 2), warmup=1, repeats=3, factor=2.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="seglab.test_demo_threads"):
        _train(hook, clock, 10)
    # after one timed 5.1 s iteration (> 2 x 0.21 s) two threads are out; one thread finishes its rounds
    assert clock.seen == [1, 2, 1, 2] + [1] * 6
    assert hook.timings == {1: [pytest.approx(0.21)] * 3, 2: [pytest.approx(5.1)]}
    assert hook.chosen == 1 and torch.get_num_threads() == 1
    assert "2 threads 5.100 s (1 timed); using 1 from here on" in caplog.text


def test_a_run_shorter_than_the_schedule_still_ends_on_the_fastest(keep_threads):
    clock = _FakeClock({1: 0.3, 2: 0.1})
    hook = ThreadChoiceHook((1, 2), warmup=1, repeats=3, clock=clock)
    _train(hook, clock, 4)  # 2 warm-up + one timed iteration each
    assert hook.chosen == 2 and torch.get_num_threads() == 2


def test_two_threads_slowing_down_are_timed_again(keep_threads, caplog):
    clock = _FakeClock({1: 0.21, 2: 0.12})
    hook = ThreadChoiceHook((1, 2), warmup=1, repeats=3, window=3, factor=2.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="seglab.test_demo_threads"):
        _train(hook, clock, 8 + 5)  # schedule, then 5 iterations at the measured speed: no re-timing
        assert hook.chosen == 2 and "timing the settings again" not in caplog.text
        clock.cost = {1: 0.25, 2: 5.0}  # other work arrives: two threads collapse
        _train(hook, clock, 2 + 4 + 4)  # slow until the window's median is, timed again (2 threads out), more
    assert "iterations with 2 now take 5.000 s (41.7x the 0.120 s measured)" in caplog.text
    assert clock.seen[13:] == [2] * 2 + [1, 2, 1, 1] + [1] * 4
    assert hook.chosen == 1 and torch.get_num_threads() == 1


def test_one_thread_slowing_down_is_not_timed_again(keep_threads):
    clock = _FakeClock({1: 0.21, 2: 0.5})
    hook = ThreadChoiceHook((1, 2), warmup=1, repeats=3, window=4, clock=clock)
    _train(hook, clock, 8)
    clock.cost = {1: 1.0, 2: 5.0}  # more threads only get worse under load: nothing to gain by timing them
    _train(hook, clock, 10)
    assert clock.seen[8:] == [1] * 10 and hook.chosen == 1


def test_hook_rejects_bad_settings():
    with pytest.raises(ValueError, match="candidates"):
        ThreadChoiceHook(())
    with pytest.raises(ValueError, match="candidates"):
        ThreadChoiceHook((0, 2))
    with pytest.raises(ValueError, match="repeats >= 1"):
        ThreadChoiceHook((1, 2), repeats=0)
    with pytest.raises(ValueError, match="factor > 1"):
        ThreadChoiceHook((1, 2), factor=0.5)


class _Stop(Exception):
    pass


def _fake_runner(seen: dict):
    def from_cfg(cfg, device=None):
        seen["threads"] = torch.get_num_threads()
        return SimpleNamespace(register_hook=lambda hook: seen.setdefault("hooks", []).append(hook),
                               train=lambda: (_ for _ in ()).throw(_Stop()))
    return staticmethod(from_cfg)


def test_threads_reach_torch_before_the_runner_is_built(monkeypatch, tmp_path, keep_threads):
    from seglab.engine import Runner

    for n in (2, 1):
        seen: dict = {}
        monkeypatch.setattr(Runner, "from_cfg", _fake_runner(seen))
        with pytest.raises(_Stop):
            main(["demo", "--threads", str(n), "--work-dir", str(tmp_path / "w")])
        assert seen["threads"] == n and "hooks" not in seen  # a fixed count is not re-timed


def test_auto_registers_the_timing_hook_on_a_multicore_cpu_only(monkeypatch, tmp_path, keep_threads):
    from seglab.engine import Runner

    seen: dict = {}
    monkeypatch.setattr(Runner, "from_cfg", _fake_runner(seen))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # a 2-core machine
    with pytest.raises(_Stop):
        main(["demo", "--device", "cpu", "--work-dir", str(tmp_path / "w")])
    (hook,) = seen["hooks"]
    assert isinstance(hook, ThreadChoiceHook) and hook.candidates == (1, 2)
    seen.clear()
    with pytest.raises(_Stop):
        main(["demo", "--device", "cuda", "--work-dir", str(tmp_path / "w")])
    assert "hooks" not in seen  # on a GPU the host thread count is left as torch set it
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)  # one core: nothing to choose
    with pytest.raises(_Stop):
        main(["demo", "--device", "cpu", "--work-dir", str(tmp_path / "w")])
    assert "hooks" not in seen
