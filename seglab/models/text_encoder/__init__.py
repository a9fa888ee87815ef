"""Text encoders registered in MODELS (CLIP's, for open-vocabulary segmentation) and CLIP's tokenizer."""
from .clip_text_encoder import CLIPTextEncoder
from .tokenizer import CLIPTokenizer, clip_tokenizer
from .vocabulary import PROMPT_TEMPLATES, dataset_class_names, prompt_templates

__all__ = ["CLIPTextEncoder", "CLIPTokenizer", "PROMPT_TEMPLATES", "clip_tokenizer", "dataset_class_names",
           "prompt_templates"]
