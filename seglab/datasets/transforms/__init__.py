"""Data transforms (numpy/cv2), registered in TRANSFORMS under MMSeg's names."""
from .albu import Albu  # noqa: F401 - optional extra 'albu', imported lazily when built
from .biomedical3d import (  # noqa: F401
    BioMedical3DPad,
    BioMedical3DRandomCrop,
    BioMedical3DRandomFlip,
    BioMedicalGaussianBlur,
    BioMedicalGaussianNoise,
    BioMedicalRandomGamma,
)
from .change_detection import ConcatCDInput  # noqa: F401
from .color_mask import ColorMaskToLabel  # noqa: F401
from .compose import Compose
from .cutout import RandomCutOut  # noqa: F401
from .depth_mix import RandomDepthMix  # noqa: F401
from .edge import GenerateEdge  # noqa: F401
from .formatting import PackSegInputs
from .geometric import Pad, RandomCrop, RandomFlip, RandomResize, Resize
from .intensity import CLAHE, AdjustGamma, Rerange, RGB2Gray  # noqa: F401
from .loading import LoadAnnotations, LoadImageFromFile, LoadImageFromNDArray
from .loading_biomedical import (  # noqa: F401 - nibabel (extra 'medical') imported lazily
    LoadBiomedicalAnnotation,
    LoadBiomedicalData,
    LoadBiomedicalImageFromFile,
)
from .loading_extra import LoadDepthAnnotation, LoadMultipleRSImageFromFile, LoadSingleRSImageFromFile  # noqa: F401
from .mix import RandomMosaic  # noqa: F401
from .photometric import PhotoMetricDistortion
from .resize import RandomChoiceResize, ResizeShortestEdge, ResizeToMultiple, SegRescale  # noqa: F401
from .rotate import RandomRotate, RandomRotFlip  # noqa: F401
from .tta import TestTimeAug  # noqa: F401

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
