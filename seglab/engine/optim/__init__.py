"""Optimizers (torch.optim by name), optimizer wrappers and the paramwise constructor."""
from .builder import DefaultOptimWrapperConstructor, build_optim_wrapper
from .layer_decay_constructor import LayerDecayOptimizerConstructor, LearningRateDecayOptimizerConstructor
from .optim_wrapper import AmpOptimWrapper, OptimWrapper

__all__ = ["AmpOptimWrapper", "DefaultOptimWrapperConstructor", "LayerDecayOptimizerConstructor",
           "LearningRateDecayOptimizerConstructor", "OptimWrapper", "build_optim_wrapper"]
