"""necks registered in MODELS."""
from .fpn import FPN  # noqa: F401
from .jpu import JPU  # noqa: F401
from .multilevel_neck import MultiLevelNeck  # noqa: F401
