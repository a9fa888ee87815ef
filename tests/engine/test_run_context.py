"""Process setup: the run context (rank, device, folders, logger, seeds) and env_cfg/randomness checks."""
from __future__ import annotations

import os.path as osp
import random

import numpy as np
import pytest
import torch

from seglab.engine.run_context import seed_everything, setup_run
from seglab.registry import ConfigError


def test_setup_run_single_process(tmp_path):
    ctx = setup_run(dict(work_dir=str(tmp_path / "w"), randomness=dict(seed=11), log_level="DEBUG",
                         experiment_name="exp"), device="cpu")
    assert (ctx.rank, ctx.world_size, ctx.launcher, ctx.device) == (0, 1, "none", torch.device("cpu"))
    assert ctx.work_dir == str(tmp_path / "w") and ctx.log_dir == osp.join(ctx.work_dir, ctx.timestamp)
    assert osp.isdir(ctx.log_dir) and ctx.experiment_name == "exp"
    assert (ctx.seed, ctx.sampler_seed) == (11, 11)
    ctx.logger.debug("hello from the test")
    with open(osp.join(ctx.log_dir, f"{ctx.timestamp}.log")) as f:
        assert "hello from the test" in f.read()  # log_level reached the logger and its file
    assert ctx.environment()["distributed"] == "launcher=none world_size=1"
    again = setup_run(dict(work_dir=str(tmp_path / "w")), device="cpu")
    assert again.timestamp != ctx.timestamp and again.experiment_name == again.timestamp  # a fresh log folder


def test_seed_everything_seeds_every_library():
    draws = []
    for _ in range(2):
        assert seed_everything(dict(seed=5)) == (5, 5)
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(1))))
    assert draws[0] == draws[1]
    assert seed_everything(dict(seed=5, diff_rank_seed=True), rank=3) == (8, 5)  # samplers keep one seed
    seed, sampler_seed = seed_everything(None)
    assert seed == sampler_seed and 0 <= seed < 2**31  # drawn once, shared by the samplers


@pytest.mark.parametrize("cfg, message", [
    (dict(env_cfg=dict(cudnn_benchmak=True)), "env_cfg: unknown key 'cudnn_benchmak'; did you mean 'cudnn_benchmark'"),
    (dict(randomness=dict(sed=1)), "randomness: unknown key 'sed'; did you mean 'seed'"),
    (dict(env_cfg=dict(dist_cfg=dict(backnd="gloo"))), "env_cfg.dist_cfg: unknown key 'backnd'"),
    (dict(env_cfg=dict(mp_cfg=dict(mp_start_method="teleport"))), "teleport"),
])
def test_bad_sections_name_themselves(tmp_path, cfg, message):
    with pytest.raises(ConfigError, match=message):
        setup_run(dict(cfg, work_dir=str(tmp_path / "w")), device="cpu")


def test_launcher_pytorch_needs_torchrun(tmp_path, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(RuntimeError, match="torchrun"):
        setup_run(dict(work_dir=str(tmp_path / "w"), launcher="pytorch"), device="cpu")
