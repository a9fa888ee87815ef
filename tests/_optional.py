"""Every reason a test in this suite may skip, in one documented list (tests/test_skip_policy.py
fails on a skip or xfail written anywhere else).

- ``OPTIONAL_EXTRAS``: third-party packages seglab imports lazily for one feature; a test of that
  feature skips when the package is not installed (``pip install`` the named extra to run it).
- ``ENVIRONMENT_SKIPS``: a capability of the platform or of the reference data, not of seglab.
Parity goldens of model families not implemented yet skip through ``skip_reason`` with their own
explicit list in tests/models/test_parity.py.
"""
from __future__ import annotations

from types import ModuleType

import pytest

OPTIONAL_EXTRAS: dict[str, str] = {
    "albumentations": "the 'albu' extra (pip install 'seglab[albu]'): the Albu transform",
    "tifffile": "the 'tiff' extra (pip install 'seglab[tiff]'): multi-band TIFF loading",
    "scipy": "scipy (pip install scipy): .mat reading in the VOC-aug and COCO-Stuff-10k converters",
    "nibabel": "the 'medical' extra (pip install 'seglab[medical]'): NIfTI volumes (biomedical loaders, Synapse converter)",
    "cityscapesscripts": "the 'cityscapes' extra (pip install 'seglab[cityscapes]'): CityscapesMetric's official "
                         "evaluation, in the test extra",
    "mlflow": "the 'mlflow' extra (pip install 'seglab[mlflow]', mlflow-skinny): MLflowVisBackend, in the test extra",
    "wandb": "the 'wandb' extra (pip install 'seglab[wandb]'): WandbVisBackend, in the test extra",
    "onnx": "the 'export' extra (pip install 'seglab[export]'): ONNX export",
    "onnxruntime": "the 'export' extra (pip install 'seglab[export]'): running exported ONNX models",
    "timm": "the 'timm' extra (pip install 'seglab[timm]'): TIMMBackbone",
    "playwright": "the 'browser-test' extra (pip install 'seglab[browser-test]'): the browser test of seglab serve's page",
    "pyspng": "the 'png' extra (pip install 'seglab[png]'): libspng PNG decoding, in the test extra",
}

ENVIRONMENT_SKIPS: dict[str, str] = {
    "no-distributed": "this torch build has no torch.distributed",
    "mmseg-could-not-build": "MMSegmentation 1.2.2 itself could not build this model when the manifest was recorded",
    "no-chromium": "no Chromium on this machine for the browser test (Debian: apt-get install -y chromium)",
    "parity-family-not-implemented": "the golden's model family is not implemented yet (explicit list in test_parity.py)",
    "no-mallinfo2": "not glibc >= 2.33 (no mallinfo2 to read the heap with; seglab.engine.allocator is glibc-only)",
}


def require(module: str) -> ModuleType:
    """Import an optional extra, or skip naming the extra to install; an unlisted module is an error."""
    root = module.split(".")[0]
    if root not in OPTIONAL_EXTRAS:
        raise KeyError(f"'{root}' is not in tests/_optional.py OPTIONAL_EXTRAS; list it there with its extra")
    return pytest.importorskip(module, reason=f"needs {OPTIONAL_EXTRAS[root]}")


def skip_reason(key: str, detail: str = "") -> None:
    """Skip the calling test for a listed environment reason (``detail`` says which case)."""
    if key not in ENVIRONMENT_SKIPS:
        raise KeyError(f"'{key}' is not in tests/_optional.py ENVIRONMENT_SKIPS")
    pytest.skip(f"{ENVIRONMENT_SKIPS[key]}" + (f": {detail}" if detail else ""))
