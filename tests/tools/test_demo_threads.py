"""seglab demo --threads: one intra-op thread by default; bad values stop before any work."""
from __future__ import annotations

import pytest

from seglab.cli import build_parser, main


def test_demo_defaults_to_one_thread_and_rejects_zero():
    assert build_parser().parse_args(["demo"]).threads == 1
    assert build_parser().parse_args(["demo", "--threads", "2"]).threads == 2
    with pytest.raises(SystemExit, match="--threads must be >= 1"):
        main(["demo", "--threads", "0"])


def test_threads_reach_torch_before_the_runner_is_built(monkeypatch, tmp_path):
    import torch

    from seglab.engine import Runner

    seen = {}

    class Stop(Exception):
        pass

    def fake_from_cfg(cfg, device=None):
        seen["threads"] = torch.get_num_threads()
        raise Stop

    before = torch.get_num_threads()
    monkeypatch.setattr(Runner, "from_cfg", staticmethod(fake_from_cfg))
    try:
        for n in (2, 1):
            with pytest.raises(Stop):
                main(["demo", "--threads", str(n), "--work-dir", str(tmp_path / "w")])
            assert seen["threads"] == n
    finally:
        torch.set_num_threads(before)
