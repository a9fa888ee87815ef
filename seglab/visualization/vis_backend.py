"""Where visualizations and scalars go: a local folder, or TensorBoard (optional extra)."""

from __future__ import annotations

import json
import os
import os.path as osp
from typing import Any

import cv2
import numpy as np

from seglab.registry import VISBACKENDS

__all__ = ["LocalVisBackend", "TensorboardVisBackend"]


@VISBACKENDS.register_module()
class LocalVisBackend:
    """Write images to ``save_dir/img_save_dir/<name>_<step>.png`` and scalars as JSON lines."""

    def __init__(
        self,
        save_dir: str | None = None,
        img_save_dir: str = "vis_image",
        config_save_file: str = "config.py",
        scalar_save_file: str = "scalars.json",
    ) -> None:
        self.save_dir = save_dir
        self.img_save_dir = img_save_dir
        self.config_save_file = config_save_file
        self.scalar_save_file = scalar_save_file

    def _root(self) -> str:
        if not self.save_dir:
            raise ValueError("LocalVisBackend has no save_dir; pass save_dir or give the visualizer one")
        os.makedirs(self.save_dir, exist_ok=True)
        return self.save_dir

    def add_config(self, config: Any, **kwargs: Any) -> None:
        """Save the resolved config text (``Config.pretty_text`` or ``str``)."""
        text = getattr(config, "pretty_text", None) or str(config)
        with open(osp.join(self._root(), self.config_save_file), "w", encoding="utf-8") as f:
            f.write(text)

    def add_image(self, name: str, image: np.ndarray, step: int = 0, **kwargs: Any) -> str:
        """Save an RGB (H, W, 3) uint8 image; return the file path."""
        folder = osp.join(self._root(), self.img_save_dir)
        os.makedirs(folder, exist_ok=True)
        path = osp.join(folder, f"{name}_{step}.png")
        img = np.asarray(image)
        cv2.imwrite(path, img[..., ::-1] if img.ndim == 3 else img)  # RGB -> cv2's BGR
        return path

    def add_scalar(self, name: str, value: float, step: int = 0, **kwargs: Any) -> None:
        """Append one scalar as a JSON line."""
        self.add_scalars({name: value}, step)

    def add_scalars(
        self, scalar_dict: dict[str, Any], step: int = 0, file_path: str | None = None, **kwargs: Any
    ) -> None:
        """Append ``{**scalar_dict, 'step': step}`` as a JSON line to ``scalar_save_file``."""
        record = {k: (v.item() if hasattr(v, "item") else v) for k, v in scalar_dict.items()}
        record["step"] = step
        with open(osp.join(self._root(), file_path or self.scalar_save_file), "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def close(self) -> None:
        """Nothing to release for files."""


@VISBACKENDS.register_module()
class TensorboardVisBackend:
    """Log images and scalars to TensorBoard event files in ``save_dir``."""

    def __init__(self, save_dir: str | None = None) -> None:
        self.save_dir = save_dir
        self._writer: Any = None

    @property
    def writer(self) -> Any:
        """The lazily created ``SummaryWriter``."""
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ImportError(
                    "TensorboardVisBackend needs the optional extra: pip install 'seglab[tensorboard]'"
                ) from exc
            if not self.save_dir:
                raise ValueError("TensorboardVisBackend has no save_dir")
            self._writer = SummaryWriter(self.save_dir)
        return self._writer

    def add_config(self, config: Any, **kwargs: Any) -> None:
        """Log the config text."""
        self.writer.add_text("config", getattr(config, "pretty_text", None) or str(config))

    def add_image(self, name: str, image: np.ndarray, step: int = 0, **kwargs: Any) -> None:
        """Log an RGB (H, W, 3) uint8 image."""
        self.writer.add_image(name, image, step, dataformats="HWC")

    def add_scalar(self, name: str, value: float, step: int = 0, **kwargs: Any) -> None:
        """Log one scalar."""
        self.writer.add_scalar(name, value, step)

    def add_scalars(self, scalar_dict: dict[str, Any], step: int = 0, **kwargs: Any) -> None:
        """Log each scalar under its own tag."""
        for k, v in scalar_dict.items():
            self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        """Flush and close the event file."""
        if self._writer is not None:
            self._writer.close()
