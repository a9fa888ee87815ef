"""Loaders for remote-sensing rasters (any band count and dtype), image pairs and depth maps."""
from __future__ import annotations

import io
import os
from typing import Any

import cv2
import numpy as np

from seglab.registry import TRANSFORMS

from ...unused_arguments import warn_unused

__all__ = ["LoadDepthAnnotation", "LoadMultipleRSImageFromFile", "LoadSingleRSImageFromFile", "read_multiband"]

_TIFF_SUFFIXES = (".tif", ".tiff")


def _tifffile() -> Any:
    try:
        import tifffile
    except ImportError as exc:
        raise ImportError(
            "reading GeoTIFF/TIFF rasters needs tifffile: pip install seglab[tiff] (or pip install tifffile)"
        ) from exc
    return tifffile


def _read_bytes(path: str) -> bytes:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: file not found; check data_root, data_prefix and the suffixes")
    with open(path, "rb") as f:
        return f.read()


def _tiff_to_hwc(path: str, data: bytes) -> np.ndarray:
    tifffile = _tifffile()
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        series = tif.series[0]
        arr = series.asarray()
        axes = series.axes
    # Put Y, X first and fold every other axis (bands 'S', planes 'C'/'Q'/'I', ...) into one channel axis.
    if "Y" not in axes or "X" not in axes:
        raise ValueError(f"{path}: TIFF series has axes {axes!r} without Y and X; cannot read it as an image")
    order = [axes.index("Y"), axes.index("X")] + [i for i, a in enumerate(axes) if a not in "YX"]
    arr = np.transpose(arr, order)
    return arr.reshape(arr.shape[0], arr.shape[1], -1)


def read_multiband(path: str) -> np.ndarray:
    """Read a raster as (H, W, C) in the file's band order and native dtype (uint8/uint16/float...).

    TIFF/GeoTIFF (any band count) needs ``tifffile``; other formats go through OpenCV, whose BGR(A)
    order is turned back into the file's RGB(A) order (as GDAL, used by MMSeg, returns it).
    """
    data = _read_bytes(path)
    if path.lower().endswith(_TIFF_SUFFIXES):
        img = _tiff_to_hwc(path, data)
    else:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
        if img is None:
            raise ValueError(f"{path}: cannot decode the image (empty, corrupt or not an image file)")
        if img.ndim == 2:
            img = img[..., None]
        elif img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        elif img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return img


@TRANSFORMS.register_module()
class LoadSingleRSImageFromFile:
    """Read ``img_path`` as ``img`` (H, W, bands) in band order, float32 if ``to_float32`` (MMSeg's default)."""

    def __init__(self, to_float32: bool = True) -> None:
        self.to_float32 = to_float32

    def __call__(self, results: dict) -> dict:
        img = read_multiband(results["img_path"])
        if self.to_float32:
            img = img.astype(np.float32)
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        results["ori_shape"] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(to_float32={self.to_float32})"


@TRANSFORMS.register_module()
class LoadMultipleRSImageFromFile:
    """Read ``img_path`` and ``img_path2`` (a change-detection pair) as ``img`` and ``img2`` (H, W, bands)."""

    def __init__(self, to_float32: bool = True) -> None:
        self.to_float32 = to_float32

    def __call__(self, results: dict) -> dict:
        img = read_multiband(results["img_path"])
        img2 = read_multiband(results["img_path2"])
        if img.shape != img2.shape:
            raise ValueError(
                f"{results['img_path']} {img.shape} and {results['img_path2']} {img2.shape}: the two images of a "
                "pair must have the same size and band count"
            )
        if self.to_float32:
            img, img2 = img.astype(np.float32), img2.astype(np.float32)
        results["img"] = img
        results["img2"] = img2
        results["img_shape"] = img.shape[:2]
        results["ori_shape"] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(to_float32={self.to_float32})"


@TRANSFORMS.register_module()
class LoadDepthAnnotation:
    """Read ``depth_map_path`` into ``gt_depth_map`` (H, W), times ``depth_rescale_factor``.

    ``decode_backend``: 'cv2' (e.g. 16-bit PNG), 'numpy' (.npy) or 'tifffile' (float TIFF). The map
    joins ``seg_fields`` so geometric transforms move it with the image.
    """

    _BACKENDS = ("cv2", "numpy", "tifffile")

    def __init__(
        self,
        decode_backend: str = "cv2",
        to_float32: bool = True,
        depth_rescale_factor: float = 1.0,
        backend_args: dict | None = None,
    ) -> None:
        warn_unused(type(self).__name__, backend_args=backend_args)
        if decode_backend not in self._BACKENDS:
            raise ValueError(f"LoadDepthAnnotation: decode_backend must be one of {self._BACKENDS}, got {decode_backend!r}")
        self.decode_backend = decode_backend
        self.to_float32 = to_float32
        self.depth_rescale_factor = depth_rescale_factor
        self.backend_args = backend_args

    def _decode(self, path: str) -> np.ndarray:
        data = _read_bytes(path)
        if self.decode_backend == "numpy":
            return np.load(io.BytesIO(data), allow_pickle=False)
        if self.decode_backend == "tifffile":
            return _tiff_to_hwc(path, data)
        depth = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
        if depth is None:
            raise ValueError(f"{path}: cannot decode the depth map")
        return depth

    def __call__(self, results: dict) -> dict:
        path = results["depth_map_path"]
        depth = self._decode(path)
        if depth.ndim == 3 and depth.shape[2] == 1:
            depth = depth[..., 0]
        if depth.ndim != 2:
            raise ValueError(f"{path}: a depth map must be single-channel, got shape {depth.shape}")
        if self.to_float32:
            depth = depth.astype(np.float32)
        if self.depth_rescale_factor != 1.0:
            depth = depth * self.depth_rescale_factor
        results["gt_depth_map"] = depth
        results.setdefault("seg_fields", [])
        if "gt_depth_map" not in results["seg_fields"]:
            results["seg_fields"].append("gt_depth_map")
        results["depth_rescale_factor"] = self.depth_rescale_factor
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(decode_backend={self.decode_backend!r}, to_float32={self.to_float32}, "
            f"depth_rescale_factor={self.depth_rescale_factor})"
        )
