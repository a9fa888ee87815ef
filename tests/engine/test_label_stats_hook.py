"""LabelStatsHook: warns once on mostly-ignored (0/255) labels and once on classes absent from a pass."""
from __future__ import annotations

import logging
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from _engine_tiny import make_data, write_config

from seglab.engine.hooks import LabelStatsHook
from seglab.structures import SegDataSample


@pytest.fixture
def seglab_log():
    """Messages of the 'seglab' logger (it does not propagate to pytest's caplog)."""
    records: list[str] = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = lambda r: records.append(r.getMessage())
    logger = logging.getLogger("seglab")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def fake_runner(batches_per_pass: int = 3) -> SimpleNamespace:
    head = SimpleNamespace(ignore_index=255, num_classes=2)
    return SimpleNamespace(model=SimpleNamespace(decode_head=head), dataset_meta=dict(classes=["background", "cell"]),
                           train_loop=SimpleNamespace(dataloader=[None] * batches_per_pass), rank=0)


def batch(*masks: np.ndarray) -> dict:
    return dict(data_samples=[SegDataSample(gt_sem_seg=torch.from_numpy(m)[None]) for m in masks])


def run(hook: LabelStatsHook, runner: SimpleNamespace, batches: list[dict]) -> None:
    for i, b in enumerate(batches):
        hook.before_train_iter(runner, i, b)
        hook.after_train_iter(runner, i, b, {})
    hook.after_train(runner)


MASK_0_255 = np.where(np.arange(16).reshape(4, 4) < 4, 0, 255).astype(np.uint8)  # 75% "foreground" = 255
MASK_0_1 = (np.arange(16).reshape(4, 4) % 2).astype(np.uint8)


def test_0_255_labels_warn_once_each(seglab_log: list[str]) -> None:
    run(LabelStatsHook(), fake_runner(), [batch(MASK_0_255, MASK_0_255)] * 7)
    ignored = [m for m in seglab_log if "of the label pixels in this batch" in m]
    absent = [m for m in seglab_log if "never appeared" in m]
    assert len(ignored) == 1 and len(absent) == 1, seglab_log
    assert "75.0%" in ignored[0] and "ignore_index=255" in ignored[0] and "label_map={255: 1}" in ignored[0]
    assert "dataset-convert binary-mask" in ignored[0]
    assert "1 of 2 classes" in absent[0] and "cell (1)" in absent[0] and "one pass" in absent[0]
    assert "label_map={255: 1}" in absent[0]


def test_clean_labels_warn_nothing(seglab_log: list[str]) -> None:
    run(LabelStatsHook(), fake_runner(), [batch(MASK_0_1, MASK_0_1)] * 4)
    assert seglab_log == []


def test_run_shorter_than_a_pass_reports_at_the_end(seglab_log: list[str]) -> None:
    only_background = np.zeros((4, 4), np.uint8)
    run(LabelStatsHook(), fake_runner(batches_per_pass=10), [batch(only_background)] * 2)
    assert len(seglab_log) == 1
    assert "the first 2 training batches" in seglab_log[0] and "cell (1)" in seglab_log[0]
    assert "label_map" not in seglab_log[0]  # nothing was ignored: the hint is about classes instead


def test_registered_in_every_training_run_and_fires_on_0_255_data(tmp_path, seglab_log: list[str]) -> None:
    from seglab.config import Config
    from seglab.engine import Runner

    data = make_data(str(tmp_path / "data"), n_train=4, n_val=2, size=16)
    for i in range(4):  # 0/255 masks: 255 covers most of each image and is ignore_index
        mask = np.full((16, 16), 255, np.uint8)
        mask[:, :4] = 0
        cv2.imwrite(osp.join(data, "ann_dir", "train", f"{i:03d}.png"), mask)
    cfg = Config.fromfile(write_config(str(tmp_path / "cfg.py"), data, str(tmp_path / "work"), iters=3, batch=2))
    runner = Runner.from_cfg(cfg, device="cpu")
    assert sum(isinstance(h, LabelStatsHook) for h in runner.hooks) == 1
    runner.train()
    ignored = [m for m in seglab_log if "of the label pixels in this batch" in m]
    absent = [m for m in seglab_log if "never appeared" in m]
    assert len(ignored) == 1 and "75.0%" in ignored[0]
    assert len(absent) == 1 and "2 of 3 classes" in absent[0] and "bar (1), floor (2)" in absent[0]
    log_file = next((tmp_path / "work").glob("*/*.log"))
    assert "never appeared" in log_file.read_text()

    cfg.default_hooks["label_stats"] = None
    assert not any(isinstance(h, LabelStatsHook) for h in Runner.from_cfg(cfg, device="cpu").hooks)
