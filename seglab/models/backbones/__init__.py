"""backbones registered in MODELS."""
from .beit import BEiT  # noqa: F401
from .bisenetv1 import BiSeNetV1  # noqa: F401
from .bisenetv2 import BiSeNetV2  # noqa: F401
from .cgnet import CGNet  # noqa: F401
from .convnext import ConvNeXt  # noqa: F401, E402
from .ddrnet import DDRNet  # noqa: F401
from .erfnet import ERFNet  # noqa: F401
from .fast_scnn import FastSCNN  # noqa: F401
from .hrnet import HRNet  # noqa: F401
from .icnet import ICNet  # noqa: F401
from .mae import MAE  # noqa: F401
from .mit import MixVisionTransformer  # noqa: F401
from .mobilenet_v2 import MobileNetV2  # noqa: F401
from .mobilenet_v3 import MobileNetV3  # noqa: F401
from .mscan import MSCAN  # noqa: F401
from .pidnet import PIDNet  # noqa: F401
from .poolformer import PoolFormer  # noqa: F401, E402
from .resnest import ResNeSt  # noqa: F401
from .resnet import ResNet, ResNetV1c, ResNetV1d  # noqa: F401
from .resnext import ResNeXt  # noqa: F401
from .stdc import STDCContextPathNet, STDCNet  # noqa: F401
from .swin import SwinTransformer  # noqa: F401
from .timm_backbone import TIMMBackbone  # noqa: F401
from .twins import PCPVT, SVT  # noqa: F401
from .unet import UNet  # noqa: F401
from .vit import VisionTransformer  # noqa: F401
