"""Data transforms (numpy/cv2), registered in TRANSFORMS under MMSeg's names."""
from .compose import Compose
from .formatting import PackSegInputs
from .geometric import Pad, RandomCrop, RandomFlip, RandomResize, Resize
from .loading import LoadAnnotations, LoadImageFromFile, LoadImageFromNDArray
from .photometric import PhotoMetricDistortion

__all__ = [
    "Compose",
    "LoadAnnotations",
    "LoadImageFromFile",
    "LoadImageFromNDArray",
    "PackSegInputs",
    "Pad",
    "PhotoMetricDistortion",
    "RandomCrop",
    "RandomFlip",
    "RandomResize",
    "Resize",
]
