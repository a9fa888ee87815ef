"""necks registered in MODELS."""
from .featurepyramid import Feature2Pyramid  # noqa: F401
from .fpn import FPN  # noqa: F401
from .ic_neck import ICNeck  # noqa: F401
from .jpu import JPU  # noqa: F401
from .mla_neck import MLANeck  # noqa: F401
from .multilevel_neck import MultiLevelNeck  # noqa: F401
