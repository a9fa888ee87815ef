"""seglab: semantic segmentation on plain PyTorch, MMSegmentation-compatible."""
__version__ = "0.1.0"
