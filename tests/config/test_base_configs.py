"""configs/_base_ runtime and schedule files load and hold MMSegmentation 1.x's values."""
from __future__ import annotations

from pathlib import Path

import pytest

from seglab.config import Config

BASE = Path(__file__).resolve().parents[2] / "configs" / "_base_"


def test_default_runtime() -> None:
    cfg = Config.fromfile(BASE / "default_runtime.py")
    assert cfg.to_dict() == {
        "default_scope": "mmseg",
        "env_cfg": {
            "cudnn_benchmark": True,
            "mp_cfg": {"mp_start_method": "fork", "opencv_num_threads": 0},
            "dist_cfg": {"backend": "nccl"},
        },
        "vis_backends": [{"type": "LocalVisBackend"}],
        "visualizer": {"type": "SegLocalVisualizer", "vis_backends": [{"type": "LocalVisBackend"}], "name": "visualizer"},
        "log_processor": {"by_epoch": False},
        "log_level": "INFO",
        "load_from": None,
        "resume": False,
        "tta_model": {"type": "SegTTAModel"},
    }


@pytest.mark.parametrize("k", [20, 40, 80, 160, 320])
def test_schedules(k: int) -> None:
    iters, interval = k * 1000, k * 100
    cfg = Config.fromfile(BASE / "schedules" / f"schedule_{k}k.py")
    assert set(cfg) == {"optimizer", "optim_wrapper", "param_scheduler", "train_cfg", "val_cfg", "test_cfg", "default_hooks"}
    assert cfg.optimizer == {"type": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005}
    assert cfg.optim_wrapper == {"type": "OptimWrapper", "optimizer": cfg.optimizer, "clip_grad": None}
    assert cfg.param_scheduler == [
        {"type": "PolyLR", "eta_min": 1e-4, "power": 0.9, "begin": 0, "end": iters, "by_epoch": False}
    ]
    assert cfg.train_cfg == {"type": "IterBasedTrainLoop", "max_iters": iters, "val_interval": interval}
    assert cfg.val_cfg == {"type": "ValLoop"} and cfg.test_cfg == {"type": "TestLoop"}
    hooks = cfg.default_hooks
    assert list(hooks) == ["timer", "logger", "param_scheduler", "checkpoint", "sampler_seed", "visualization"]
    assert hooks.logger == {"type": "LoggerHook", "interval": 50, "log_metric_by_epoch": False}
    assert hooks.checkpoint == {"type": "CheckpointHook", "by_epoch": False, "interval": interval}
    assert hooks.visualization.type == "SegVisualizationHook" and hooks.sampler_seed.type == "DistSamplerSeedHook"


def test_runtime_and_schedule_combine(tmp_path: Path) -> None:
    """A method config inherits both without key clashes and can override the schedule."""
    child = tmp_path / "m.py"
    child.write_text(
        f"_base_ = ['{BASE / 'default_runtime.py'}', '{BASE / 'schedules/schedule_40k.py'}']\n"
        "optimizer = dict(lr=0.005)\noptim_wrapper = dict(optimizer=optimizer)\n"
    )
    cfg = Config.fromfile(child)
    assert cfg.optim_wrapper.optimizer == {"type": "SGD", "lr": 0.005, "momentum": 0.9, "weight_decay": 0.0005}
    assert cfg.log_level == "INFO" and cfg.train_cfg.max_iters == 40000
