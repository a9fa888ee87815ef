"""Loaders for biomedical volumes (MMSeg 1.x names): NIfTI through the optional ``nibabel`` or ``.npy``.

Conventions as MMSeg's: a NIfTI array is indexed (X, Y, Z) and is transposed to (Z, Y, X); a numpy
array is stored (Z, Y, X) already. Images become ``img`` (N, Z, Y, X) (a 3-D array gets N = 1; a 4-D
array's first axis is the modality axis), label volumes ``gt_seg_map`` (Z, Y, X). ``to_xyz`` turns
the result back to X, Y, Z order. NIfTI data is read as float64 (``get_fdata``), gzip-compressed or not.
"""

from __future__ import annotations

import gzip
import io
import os
from typing import Any

import numpy as np

from seglab.registry import TRANSFORMS

from ...unused_arguments import warn_unused

__all__ = ["LoadBiomedicalAnnotation", "LoadBiomedicalData", "LoadBiomedicalImageFromFile", "read_biomedical"]

_BACKENDS = ("nifti", "numpy")


def _nibabel() -> Any:
    try:
        import nibabel
    except ImportError as exc:
        raise ImportError("reading NIfTI volumes needs nibabel: pip install 'seglab[medical]' (or pip install "
                          "nibabel), or convert the volumes to .npy and use decode_backend='numpy'") from exc
    return nibabel


def read_biomedical(path: str, backend: str) -> np.ndarray:
    """The array stored in ``path``: NIfTI (.nii / .nii.gz) via nibabel as float64, or a ``.npy`` file."""
    if backend not in _BACKENDS:
        raise ValueError(f"decode_backend must be one of {_BACKENDS}, got {backend!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: file not found; check data_root and the paths in the annotation file")
    with open(path, "rb") as f:
        data = f.read()
    if backend == "numpy":
        return np.load(io.BytesIO(data), allow_pickle=False)
    if data[:2] == b"\x1f\x8b":  # gzip magic: .nii.gz
        data = gzip.decompress(data)
    nibabel = _nibabel()
    try:
        image = nibabel.Nifti1Image.from_bytes(data)
    except Exception as exc:  # nibabel raises several types for a bad header
        raise ValueError(f"{path}: not a readable NIfTI-1 file ({exc})") from exc
    return np.asarray(image.get_fdata())


def _reorder(volume: np.ndarray, backend: str, to_xyz: bool, channel_first: bool) -> np.ndarray:
    """X, Y, Z (NIfTI) -> Z, Y, X; then back to X, Y, Z if ``to_xyz``. A leading channel axis stays."""
    order = (0, 3, 2, 1) if channel_first else (2, 1, 0)
    if backend == "nifti":
        volume = volume.transpose(order)
    if to_xyz:
        volume = volume.transpose(order)
    return volume


class _BiomedicalLoader:
    def __init__(self, decode_backend: str, to_xyz: bool, backend_args: dict | None) -> None:
        warn_unused(type(self).__name__, backend_args=backend_args)
        if decode_backend not in _BACKENDS:
            raise ValueError(f"{type(self).__name__}: decode_backend must be one of {_BACKENDS}, got {decode_backend!r}")
        self.decode_backend = decode_backend
        self.to_xyz = to_xyz
        self.backend_args = backend_args

    def _check_ndim(self, volume: np.ndarray, path: str, ndims: tuple[int, ...], what: str) -> None:
        if volume.ndim not in ndims:
            raise ValueError(f"{type(self).__name__}: {path} holds a {volume.ndim}-D array {volume.shape}; "
                             f"{what}")


@TRANSFORMS.register_module()
class LoadBiomedicalImageFromFile(_BiomedicalLoader):
    """Read ``img_path`` into ``img`` (N, Z, Y, X), float32 if ``to_float32``; sets img_shape/ori_shape (Z, Y, X)."""

    def __init__(self, decode_backend: str = "nifti", to_xyz: bool = False, to_float32: bool = True,
                 backend_args: dict | None = None) -> None:
        super().__init__(decode_backend, to_xyz, backend_args)
        self.to_float32 = to_float32

    def __call__(self, results: dict) -> dict:
        path = results["img_path"]
        img = read_biomedical(path, self.decode_backend)
        self._check_ndim(img, path, (3, 4), "an image volume is (X, Y, Z) or (N, X, Y, Z) (NIfTI) / Z, Y, X (numpy)")
        if self.to_float32:
            img = img.astype(np.float32)
        if img.ndim == 3:
            img = img[None]
        img = _reorder(img, self.decode_backend, self.to_xyz, channel_first=True)
        results["img"] = img
        results["img_shape"] = img.shape[1:]
        results["ori_shape"] = img.shape[1:]
        return results

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(decode_backend={self.decode_backend!r}, to_xyz={self.to_xyz}, "
                f"to_float32={self.to_float32}, backend_args={self.backend_args})")


@TRANSFORMS.register_module()
class LoadBiomedicalAnnotation(_BiomedicalLoader):
    """Read ``seg_map_path`` into ``gt_seg_map`` (Z, Y, X), float32 if ``to_float32`` (MMSeg's default)."""

    def __init__(self, decode_backend: str = "nifti", to_xyz: bool = False, to_float32: bool = True,
                 backend_args: dict | None = None) -> None:
        super().__init__(decode_backend, to_xyz, backend_args)
        self.to_float32 = to_float32

    def __call__(self, results: dict) -> dict:
        path = results["seg_map_path"]
        seg = read_biomedical(path, self.decode_backend)
        self._check_ndim(seg, path, (3,), "a label volume is 3-D")
        if self.to_float32:
            seg = seg.astype(np.float32)
        results["gt_seg_map"] = _reorder(seg, self.decode_backend, self.to_xyz, channel_first=False)
        return results

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(decode_backend={self.decode_backend!r}, to_xyz={self.to_xyz}, "
                f"to_float32={self.to_float32}, backend_args={self.backend_args})")


@TRANSFORMS.register_module()
class LoadBiomedicalData(_BiomedicalLoader):
    """Read ``img_path`` holding (N + 1, ...) channels: the first N are ``img`` (N, Z, Y, X), the last the
    labels ``gt_seg_map`` (Z, Y, X) when ``with_seg``. The dtype is the file's."""

    def __init__(self, with_seg: bool = False, decode_backend: str = "numpy", to_xyz: bool = False,
                 backend_args: dict | None = None) -> None:
        super().__init__(decode_backend, to_xyz, backend_args)
        self.with_seg = with_seg

    def __call__(self, results: dict) -> dict:
        path = results["img_path"]
        data = read_biomedical(path, self.decode_backend)
        self._check_ndim(data, path, (4,), "LoadBiomedicalData reads (N + 1, X, Y, Z): image channels, then labels")
        if data.shape[0] < 2:
            raise ValueError(f"LoadBiomedicalData: {path} has {data.shape[0]} channel(s) on its first axis; it needs "
                             "at least one image channel and the label channel last")
        img = _reorder(data[:-1], self.decode_backend, self.to_xyz, channel_first=True)
        results["img"] = img
        results["img_shape"] = img.shape[1:]
        results["ori_shape"] = img.shape[1:]
        if self.with_seg:
            results["gt_seg_map"] = _reorder(data[-1], self.decode_backend, self.to_xyz, channel_first=False)
        return results

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(with_seg={self.with_seg}, decode_backend={self.decode_backend!r}, "
                f"to_xyz={self.to_xyz}, backend_args={self.backend_args})")
