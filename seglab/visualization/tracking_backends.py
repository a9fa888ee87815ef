"""Experiment trackers as vis backends: Weights & Biases and MLflow (optional extras, MMEngine's names and arguments).

Both start their run on first use (``add_config``, ``add_scalars``, ``add_image``) and end it in
``close()``; ``experiment`` gives the library module for anything else. Offline use works as the
libraries document it: ``WANDB_MODE=offline`` for W&B, and MLflow's default file store
(``file://<save_dir>`` when no ``tracking_uri`` is given).
"""

from __future__ import annotations

import os
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from seglab.registry import VISBACKENDS, ConfigError

from ..unused_arguments import warn_unused

__all__ = ["MLflowVisBackend", "WandbVisBackend", "flatten_config"]


def _import(module: str, backend: str, extra: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise ConfigError(f"vis_backends: {backend} needs the {module} package; install it with "
                          f"pip install 'seglab[{extra}]' or remove it from vis_backends") from exc


def _config_dict(config: Any) -> dict:
    return config.to_dict() if hasattr(config, "to_dict") else dict(config)


def _config_text(config: Any) -> str:
    return getattr(config, "pretty_text", None) or str(config)


def _number(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def flatten_config(cfg: Mapping, parent: str = "", sep: str = ".") -> dict[str, Any]:
    """``{'model': {'type': 'X'}, 'hooks': [{'a': 1}]}`` -> ``{'model.type': 'X', 'hooks.0.a': 1}`` (MMEngine's rule)."""
    flat: dict[str, Any] = {}
    for key, value in cfg.items():
        name = f"{parent}{sep}{key}" if parent else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten_config(value, name, sep))
        elif isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    flat.update(flatten_config(item, f"{name}{sep}{i}", sep))
                else:
                    flat[f"{name}{sep}{i}"] = item
        else:
            flat[name] = value
    return flat


@VISBACKENDS.register_module()
class WandbVisBackend:
    """Log the config, scalars and images to a Weights & Biases run (``pip install 'seglab[wandb]'``).

    ``init_kwargs`` go to ``wandb.init`` (``dir`` defaults to ``save_dir``; ``project``, ``name``,
    ``mode='offline'`` ...); ``define_metric_cfg`` is ``{'mIoU': 'max'}`` or a list of
    ``wandb.define_metric`` keyword dicts. Everything logged at one runner iteration is one W&B row
    (the W&B step), committed when a later iteration is logged or the run finishes.
    """

    def __init__(
        self,
        save_dir: str | None = None,
        init_kwargs: dict | None = None,
        define_metric_cfg: dict | list | None = None,
        commit: bool | None = True,
        log_code_name: str | None = None,
        watch_kwargs: dict | None = None,
    ) -> None:
        _import("wandb", "WandbVisBackend", "wandb")  # fail at build time, not at the first log
        warn_unused("WandbVisBackend", commit=commit)
        if define_metric_cfg is not None and not isinstance(define_metric_cfg, (dict, list)):
            raise ConfigError(f"WandbVisBackend: define_metric_cfg must be a dict or a list of dicts, "
                              f"got {type(define_metric_cfg).__name__}")
        self.save_dir = save_dir
        self.init_kwargs = dict(init_kwargs or {})
        self.define_metric_cfg = define_metric_cfg
        self.commit = commit
        self.log_code_name = log_code_name
        self.watch_kwargs = dict(watch_kwargs or {})
        self._run: Any = None
        self._step = 0  # W&B steps must not decrease: images logged at an earlier step join the latest one

    @property
    def experiment(self) -> Any:
        """The ``wandb`` module, with this backend's run started."""
        self._start()
        return _import("wandb", "WandbVisBackend", "wandb")

    def _start(self) -> Any:
        if self._run is not None:
            return self._run
        wandb = _import("wandb", "WandbVisBackend", "wandb")
        kwargs = dict(self.init_kwargs)
        if self.save_dir:
            os.makedirs(self.save_dir, exist_ok=True)
            kwargs.setdefault("dir", self.save_dir)
        self._run = wandb.init(**kwargs)
        metrics = self.define_metric_cfg
        if isinstance(metrics, dict):
            for name, summary in metrics.items():
                self._run.define_metric(name, summary=summary)
        elif isinstance(metrics, list):
            for kwargs in metrics:
                self._run.define_metric(**kwargs)
        return self._run

    def _log(self, values: dict[str, Any], step: int) -> None:
        # One W&B row per iteration: W&B drops values logged at a step it has already committed, so rows
        # stay open (commit=False) and W&B commits one when a later step is logged or the run finishes.
        self._step = max(self._step, int(step))
        self._start().log(values, step=self._step, commit=False)

    def add_config(self, config: Any, **kwargs: Any) -> None:
        """Store the resolved config as the run's config (and the code, when ``log_code_name`` is set)."""
        run = self._start()
        run.config.update(_config_dict(config), allow_val_change=self.init_kwargs.get("allow_val_change", False))
        if self.log_code_name is not None:
            run.log_code(name=self.log_code_name)

    def add_graph(self, model: Any, data_batch: Any = None, **kwargs: Any) -> None:
        """``wandb.watch`` the model with ``watch_kwargs``."""
        self._start().watch(model, **self.watch_kwargs)

    def add_image(self, name: str, image: np.ndarray, step: int = 0, **kwargs: Any) -> None:
        """Log an RGB (H, W, 3) uint8 image."""
        wandb = _import("wandb", "WandbVisBackend", "wandb")
        self._log({name: wandb.Image(np.asarray(image))}, step)

    def add_scalar(self, name: str, value: float, step: int = 0, **kwargs: Any) -> None:
        """Log one scalar."""
        self._log({name: _number(value)}, step)

    def add_scalars(self, scalar_dict: dict[str, Any], step: int = 0, file_path: str | None = None,
                    **kwargs: Any) -> None:
        """Log several scalars at one step."""
        self._log({k: _number(v) for k, v in scalar_dict.items()}, step)

    def close(self) -> None:
        """Finish the run (W&B writes or syncs it); a later log starts a new one."""
        if self._run is not None:
            self._run.finish()
            self._run = None


@VISBACKENDS.register_module()
class MLflowVisBackend:
    """Log the config (params + ``config.py``), scalars (metrics) and images (artifacts) to an MLflow run.

    Without ``tracking_uri`` the run goes to the file store ``file://<save_dir>`` (``pip install
    'seglab[mlflow]'``, mlflow-skinny suffices; MLflow >= 3.x also wants ``MLFLOW_ALLOW_FILE_STORE=true``). ``tracked_config_keys`` limits the params to those
    top-level config keys; at ``close()`` the work dir's files ending in ``artifact_suffix`` are logged
    as artifacts, as MMEngine does.
    """

    def __init__(
        self,
        save_dir: str | None = None,
        exp_name: str | None = None,
        run_name: str | None = None,
        tags: dict | None = None,
        params: dict | None = None,
        tracking_uri: str | None = None,
        artifact_suffix: Sequence[str] | str = (".json", ".log", ".py", "yaml"),
        tracked_config_keys: Sequence[str] | None = None,
        artifact_location: str | None = None,
    ) -> None:
        _import("mlflow", "MLflowVisBackend", "mlflow")
        if tracking_uri is None and not save_dir:
            raise ConfigError("MLflowVisBackend needs save_dir (its file store) or a tracking_uri")
        self.save_dir = save_dir
        self.exp_name = exp_name or "Default"
        self.run_name = run_name
        self.tags = dict(tags or {})
        self.params = dict(params or {})
        self.tracking_uri = tracking_uri
        self.artifact_suffix = (artifact_suffix,) if isinstance(artifact_suffix, str) else tuple(artifact_suffix)
        self.tracked_config_keys = list(tracked_config_keys) if tracked_config_keys is not None else None
        self.artifact_location = artifact_location
        self.work_dir: str | None = None
        self._client: Any = None
        self._run_id: str | None = None

    @property
    def experiment(self) -> Any:
        """The ``mlflow`` module, with this backend's run active."""
        self._start()
        return _import("mlflow", "MLflowVisBackend", "mlflow")

    @property
    def run_id(self) -> str:
        """The MLflow run id (starts the run)."""
        self._start()
        return str(self._run_id)

    def _start(self) -> Any:
        if self._client is not None:
            return self._client
        _import("mlflow", "MLflowVisBackend", "mlflow")
        from mlflow.tracking import MlflowClient

        uri = self.tracking_uri
        if uri is None:
            os.makedirs(self.save_dir, exist_ok=True)
            uri = "file://" + osp.abspath(self.save_dir)
        # A client of its own: nothing is set on the mlflow module, so other code's runs are untouched.
        try:
            client = MlflowClient(tracking_uri=uri)
        except Exception as exc:  # MlflowException; recent MLflow refuses the file store unless told otherwise
            if self.tracking_uri is None and "MLFLOW_ALLOW_FILE_STORE" in str(exc):
                raise ConfigError(
                    f"MLflowVisBackend: this MLflow keeps its file store ({uri}) only with MLFLOW_ALLOW_FILE_STORE=true "
                    "in the environment; set it, or give tracking_uri (an MLflow server 'http://host:5000', or "
                    "'sqlite:///mlflow.db' with the full mlflow package)") from exc
            raise
        experiment = client.get_experiment_by_name(self.exp_name)
        experiment_id = (experiment.experiment_id if experiment is not None else
                         client.create_experiment(self.exp_name, artifact_location=self.artifact_location))
        tags = {str(k): str(v) for k, v in self.tags.items()}
        if self.run_name is not None:
            tags["mlflow.runName"] = self.run_name
        run = client.create_run(experiment_id, tags=tags, run_name=self.run_name)
        self._client, self._run_id = client, run.info.run_id
        if self.params:
            self._log_params(self.params)
        return client

    def _log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(str(k), str(v)[:6000]) for k, v in params.items()]  # MLflow's value length limit
        for start in range(0, len(items), 100):  # log_batch takes at most 100 params
            self._start().log_batch(self._run_id, params=items[start : start + 100])

    def add_config(self, config: Any, **kwargs: Any) -> None:
        """Log the flattened config as params (``tracked_config_keys`` only, if set) and ``config.py``."""
        cfg = _config_dict(config)
        self.work_dir = cfg.get("work_dir") or self.work_dir
        if self.tracked_config_keys is not None:
            missing = [k for k in self.tracked_config_keys if k not in cfg]
            if missing:
                raise ConfigError(f"MLflowVisBackend: tracked_config_keys {missing} are not in the config")
            cfg = {k: cfg[k] for k in self.tracked_config_keys}
        self._log_params(flatten_config(cfg))
        self._start().log_text(self._run_id, _config_text(config), "config.py")

    def add_image(self, name: str, image: np.ndarray, step: int = 0, **kwargs: Any) -> None:
        """Log an RGB (H, W, 3) uint8 image as the artifact ``<name>_<step>.png``."""
        self._start().log_image(self._run_id, np.asarray(image), f"{name}_{step}.png")

    def add_scalar(self, name: str, value: float, step: int = 0, **kwargs: Any) -> None:
        """Log one metric at ``step``."""
        self.add_scalars({name: value}, step)

    def add_scalars(self, scalar_dict: dict[str, Any], step: int = 0, file_path: str | None = None,
                    **kwargs: Any) -> None:
        """Log several metrics at ``step``."""
        from mlflow.entities import Metric

        if "step" in scalar_dict:
            raise ValueError("MLflowVisBackend.add_scalars: pass the step as step=, not as a 'step' key")
        import time

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(_number(v)), now, int(step)) for k, v in scalar_dict.items()]
        self._start().log_batch(self._run_id, metrics=metrics)

    def close(self) -> None:
        """Log the work dir's ``artifact_suffix`` files as artifacts and end the run."""
        if self._client is None:
            return
        store = osp.abspath(self.save_dir) if self.save_dir and self.tracking_uri is None else None
        if self.work_dir and osp.isdir(self.work_dir):
            for root, _, files in os.walk(self.work_dir):
                if store and (osp.abspath(root) + os.sep).startswith(store + os.sep):
                    continue  # the file store itself (its meta.yaml files) is not an artifact
                for name in sorted(files):
                    if name.endswith(self.artifact_suffix):
                        rel = osp.relpath(root, self.work_dir)
                        self._client.log_artifact(self._run_id, osp.join(root, name), None if rel == "." else rel)
        self._client.set_terminated(self._run_id)
        self._client = self._run_id = None
