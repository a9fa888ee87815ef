"""Config files: MMSeg-compatible Python/YAML/JSON dicts with ``_base_`` inheritance and overrides."""
from .config import Config
from .config_dict import ConfigDict
from .options import DictAction, bool_switch, parse_cfg_options, parse_value

__all__ = ["Config", "ConfigDict", "DictAction", "bool_switch", "parse_cfg_options", "parse_value"]
