"""Hooks registered in HOOKS: timing, logging, lr scheduling, checkpoints, visualization and more."""
from .checkpoint_hook import CheckpointHook
from .early_stopping_hook import EarlyStoppingHook
from .ema_hook import EMAHook
from .empty_cache_hook import EmptyCacheHook
from .hook import PRIORITIES, Hook, get_priority
from .iter_timer_hook import IterTimerHook
from .label_stats_hook import LabelStatsHook
from .logger_hook import LoggerHook
from .param_scheduler_hook import ParamSchedulerHook
from .protocol import RunnerLike
from .sampler_seed_hook import DistSamplerSeedHook
from .visualization_hook import SegVisualizationHook

__all__ = [
    "PRIORITIES", "CheckpointHook", "DistSamplerSeedHook", "EMAHook", "EarlyStoppingHook", "EmptyCacheHook", "Hook",
    "IterTimerHook", "LabelStatsHook", "LoggerHook",
    "ParamSchedulerHook", "RunnerLike", "SegVisualizationHook", "get_priority",
]
