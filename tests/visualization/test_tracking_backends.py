"""WandbVisBackend and MLflowVisBackend (MMEngine's names and arguments) in a tiny training run, read back from
W&B's offline run file and MLflow's file store: the config, the logged scalars and the validation images."""
from __future__ import annotations

import json
import os.path as osp
import struct
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from _optional import require

from seglab.config import Config
from seglab.engine import Runner
from seglab.registry import VISBACKENDS, ConfigError

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
from _engine_tiny import make_data, write_config  # noqa: E402

VIS = """
default_hooks = dict(timer=dict(type='IterTimerHook'), logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'), checkpoint=None, sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook', draw=True, interval=1))
visualizer = dict(type='SegLocalVisualizer', vis_backends=[{backend}])
"""


pytestmark = pytest.mark.usefixtures("single_thread")


def train_with(tmp_path: Path, backend: str) -> Runner:
    """2 iterations of the tiny FCN, validation (2 batches of 2 images, drawn) after the second; returns the runner."""
    data = make_data(str(tmp_path / "data"), n_train=4, n_val=4, size=32)
    config = write_config(str(tmp_path / "cfg.py"), data, str(tmp_path / "work"), iters=2, val_interval=2,
                          extra=VIS.format(backend=backend))
    runner = Runner.from_cfg(Config.fromfile(config), device="cpu")
    runner.train()
    runner.visualizer.close()
    return runner


def wandb_records(path: str) -> list:
    """The protobuf Records of a W&B ``.wandb`` file (a LevelDB-style log: 32 KiB blocks of chunked records)."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B"
    records, pos, pending = [], 7, b""
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if left < 7 or (length == 0 and kind == 0):  # block trailer / padding
            pos += left if left >= 7 else left
            continue
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk  # FULL/FIRST start a record, MIDDLE/LAST extend it
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def finished_wandb_records(path: str, timeout: float = 30) -> list:
    """The records once W&B's service has written the run's exit record (it writes after ``finish()`` returns)."""
    deadline = time.monotonic() + timeout
    while True:
        records = wandb_records(path)
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def test_wandb_offline_run_holds_config_scalars_and_validation_images(tmp_path, monkeypatch):
    require("wandb")
    for var in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb_home"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    backend = ("dict(type='WandbVisBackend', init_kwargs=dict(project='seglab-tests', name='tiny'), "
               "define_metric_cfg={'mIoU': 'max'})")
    runner = train_with(tmp_path, backend)
    runs = list(Path(runner.log_dir, "vis_data", "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1  # init_kwargs.dir defaults to the visualizer's save_dir
    config, history = {}, []
    for record in finished_wandb_records(str(runs[0])):
        kind = record.WhichOneof("record_type")
        if kind == "config":
            config.update({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                           for item in record.config.update})
        elif kind == "history":
            history.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                            for item in record.history.item})
    assert config["model"]["decode_head"]["type"] == "FCNHead" and config["train_cfg"]["max_iters"] == 2
    by_step: dict[int, dict] = {}
    for row in history:
        by_step.setdefault(row["_step"], {}).update(row)
    assert {"loss", "lr"} <= set(by_step[1]) and {"loss", "lr", "mIoU", "aAcc"} <= set(by_step[2])
    assert all(np.isfinite(by_step[s]["loss"]) for s in (1, 2)) and 0 <= by_step[2]["mIoU"] <= 100
    images = [k[: -len("/path")] for k in by_step[2] if k.endswith("/_type") is False and k.endswith("/path")]
    assert len(images) == 4  # the 4 validation images, drawn at iteration 2
    for key in images:
        png = cv2.imread(str(runs[0].parent / "files" / by_step[2][f"{key}/path"]))
        assert png.shape == (32, 64, 3)  # ground truth | prediction side by side


def test_mlflow_file_store_holds_params_metrics_and_artifacts(tmp_path, monkeypatch):
    require("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3.x keeps its file store behind this switch

    backend = ("dict(type='MLflowVisBackend', exp_name='seglab-tests', run_name='tiny', tags=dict(team='seg'), "
               "params=dict(note='first run'))")
    runner = train_with(tmp_path, backend)
    store = Path(runner.log_dir, "vis_data")
    client = MlflowClient(tracking_uri="file://" + str(store))
    experiment = client.get_experiment_by_name("seglab-tests")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "tiny" and run.data.tags["team"] == "seg"
    params = run.data.params
    assert params["note"] == "first run" and params["model.decode_head.type"] == "FCNHead"
    assert params["train_cfg.max_iters"] == "2" and params["model.decode_head.num_classes"] == "3"
    loss = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in loss] == [1, 2] and all(np.isfinite(m.value) for m in loss)
    (miou,) = client.get_metric_history(run.info.run_id, "mIoU")
    assert miou.step == 2 and 0 <= miou.value <= 100
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "config.py" in artifacts and "cfg.py" in artifacts  # logged config text; work dir's dumped config
    text = Path(client.download_artifacts(run.info.run_id, "config.py", str(tmp_path / "dl"))).read_text()
    assert "FCNHead" in text
    images = sorted(p for p in artifacts if p.endswith(".png"))
    assert images == ["val_000_2.png", "val_001_2.png", "val_002_2.png", "val_003_2.png"]  # <name>_<iteration>.png
    logs = {a.path for a in client.list_artifacts(run.info.run_id, Path(runner.log_dir).name)}
    assert any(p.endswith(".log") for p in logs)  # close() logged the run's log file
    png = cv2.imread(client.download_artifacts(run.info.run_id, images[0], str(tmp_path / "dl")))
    assert png.shape == (32, 64, 3)
    assert not any(p.endswith("meta.yaml") for p in artifacts)  # the file store is not logged into itself


def test_missing_packages_are_config_errors(tmp_path, monkeypatch):
    from seglab.engine import builders
    from seglab.engine.run_context import RunContext  # noqa: F401 - the builder's context type

    for kind, package in (("WandbVisBackend", "wandb"), ("MLflowVisBackend", "mlflow")):
        monkeypatch.setitem(sys.modules, package, None)  # import fails as when the extra is not installed
        with pytest.raises(ConfigError, match=rf"{kind} needs the {package} package; install it with "
                                              rf"pip install 'seglab\[{package}\]'"):
            VISBACKENDS.build(dict(type=kind, save_dir=str(tmp_path)))
    real = builders.importlib.util.find_spec
    monkeypatch.setattr(builders.importlib.util, "find_spec", lambda name: None if name == "mlflow" else real(name))
    with pytest.raises(ConfigError, match=r"vis_backends: MLflowVisBackend needs the mlflow package"):
        train_with(tmp_path, "dict(type='MLflowVisBackend')")
    assert osp.isdir(tmp_path / "data")
