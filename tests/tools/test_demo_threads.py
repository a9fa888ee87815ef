"""seglab demo --threads: one intra-op thread by default; bad values stop before any work."""
from __future__ import annotations

import pytest

from seglab.cli import build_parser, main


def test_demo_defaults_to_one_thread_and_rejects_zero():
    assert build_parser().parse_args(["demo"]).threads == 1
    assert build_parser().parse_args(["demo", "--threads", "2"]).threads == 2
    with pytest.raises(SystemExit, match="--threads must be >= 1"):
        main(["demo", "--threads", "0"])
