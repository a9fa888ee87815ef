"""backbones registered in MODELS."""
from .hrnet import HRNet  # noqa: F401
from .mobilenet_v2 import MobileNetV2  # noqa: F401
from .resnest import ResNeSt  # noqa: F401
from .resnet import ResNet, ResNetV1c, ResNetV1d  # noqa: F401
from .resnext import ResNeXt  # noqa: F401
from .unet import UNet  # noqa: F401
