"""Config validation: a misspelt key anywhere in the runtime sections names itself and the closest names;
MMSeg's own default_runtime.py and schedule_*.py work unchanged."""
from __future__ import annotations

import glob
import os.path as osp

import pytest
from _engine_tiny import REPO, make_data, write_config

from seglab.config import Config
from seglab.engine import Runner
from seglab.registry import ConfigError

CASES = [
    ("train_cfg", "max_iter", "max_iters"),
    ("val_cfg", "fp61", "fp16"),
    ("optim_wrapper", "clip_gard", "clip_grad"),
    ("optim_wrapper.optimizer", "momentun", "momentum"),
    ("default_hooks.checkpoint", "intervall", "interval"),
    ("default_hooks.logger", "log_metric_by_epok", "log_metric_by_epoch"),
    ("param_scheduler.0", "powr", "power"),
    ("env_cfg", "cudnn_benchmak", "cudnn_benchmark"),
    ("env_cfg.dist_cfg", "backnd", "backend"),
    ("randomness", "deterministc", "deterministic"),
    ("model_wrapper_cfg", "find_unused_parameter", "find_unused_parameters"),
]


@pytest.fixture()
def cfg_file(tmp_path, single_thread):
    data = make_data(str(tmp_path / "data"), n_train=2, n_val=2)
    return write_config(str(tmp_path / "c.py"), data, str(tmp_path / "w"), iters=1, batch=2)


@pytest.mark.parametrize("where, key, hint", CASES)
def test_unknown_key_names_itself_and_the_closest_name(cfg_file, where, key, hint):
    cfg = Config.fromfile(cfg_file)
    node = cfg
    for part in where.split("."):
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[key] = 1
    with pytest.raises(ConfigError) as err:
        runner = Runner.from_cfg(cfg, device="cpu")
        runner.train()
    message = str(err.value)
    assert key in message and hint in message
    assert message.startswith(where.split(".")[0].replace(".0", "")), message  # names the section


@pytest.mark.parametrize("schedule", sorted(glob.glob(osp.join(REPO, "configs", "_base_", "schedules", "*.py"))))
def test_mmseg_runtime_and_schedules_work_unchanged(tmp_path, cfg_file, schedule):
    with open(cfg_file) as f:
        text = f.read()
    # The tiny model and data, but runtime and schedule from MMSeg's own base files.
    keep = text.split("optim_wrapper =")[0]
    child = tmp_path / "child.py"
    child.write_text(f"_base_ = ['{REPO}/configs/_base_/default_runtime.py', '{schedule}']\n{keep}"
                     f"work_dir = '{tmp_path / 'child_w'}'\n")
    cfg = Config.fromfile(str(child))
    total = int(osp.basename(schedule).split("_")[1].rstrip("k.py")) * 1000
    assert cfg.train_cfg.max_iters == total and cfg.env_cfg.dist_cfg.backend == "nccl"
    cfg.train_cfg.max_iters = 2  # what --cfg-options train_cfg.max_iters=2 does
    cfg.default_hooks.visualization = dict(type="SegVisualizationHook", draw=False)
    runner = Runner.from_cfg(cfg, device="cpu")  # nccl without CUDA and no launcher: single process
    runner.train()
    assert runner.iter == 2
    # What the schedule file names reaches the runner (MMSeg's 20k..320k: SGD + PolyLR, checkpoints every
    # tenth; its 25k (VPD/depth): AdamW, LinearLR warm-up, PolyLRRatio, ConstantLR, every 2000 iterations).
    assert type(runner.optim_wrapper.optimizer).__name__ == cfg.optimizer["type"]
    assert [type(s).__name__ for s in runner.param_schedulers] == [s["type"] for s in cfg.param_scheduler]
    hook = next(h for h in runner.hooks if type(h).__name__ == "CheckpointHook")
    assert hook.interval == cfg.default_hooks.checkpoint.interval and not hook.by_epoch
    if cfg.optimizer["type"] == "SGD":
        assert [s["type"] for s in cfg.param_scheduler] == ["PolyLR"] and hook.interval == total // 10
