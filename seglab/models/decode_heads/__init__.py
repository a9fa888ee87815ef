"""decode heads registered in MODELS."""
from .decode_head import BaseDecodeHead
from .fcn_head import FCNHead
