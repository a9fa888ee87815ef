"""Pixel samplers (OHEM) registered in MODELS, built by decode heads with ``context=head``."""
from .ohem_pixel_sampler import OHEMPixelSampler
