"""LightHamHead, the SegNeXt decoder ("SegNeXt", https://arxiv.org/abs/2209.08575), built on the Hamburger
of "Is Attention Better Than Matrix Decomposition?" (https://arxiv.org/abs/2109.04553): global context
from a low-rank non-negative matrix factorisation (NMF) of the feature map.

Keys: ``squeeze``, ``hamburger.ham_in``, ``hamburger.ham_out``, ``align`` (ConvModules), ``conv_seg``; with
``rand_init=False`` also the fixed initial bases ``hamburger.ham.bases``.

Random bases (MMSeg semantics): with ``rand_init=True`` (every MMSeg config) the NMF starts from bases
drawn from PyTorch's global CPU generator on EVERY forward, in training and in evaluation, so two eval
forwards differ slightly unless the global RNG is seeded before each (``torch.manual_seed``).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ...registry import MODELS, ConfigError
from ..layers import ConvModule, resize
from .decode_head import BaseDecodeHead

__all__ = ["Hamburger", "LightHamHead", "NMF2D"]


def nmf_multiplicative_step(x: torch.Tensor, bases: torch.Tensor, coef: torch.Tensor,
                            update_bases: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """One Lee-Seung multiplicative update of ``x ~ bases @ coef^T`` (all non-negative).

    x: (B, D, N), bases: (B, D, R), coef: (B, N, R). Updates ``coef``, then (if ``update_bases``) ``bases``
    with the new coef; 1e-6 in the denominators, as MMSeg.
    """
    coef = coef * torch.bmm(x.transpose(1, 2), bases) / (coef.bmm(bases.transpose(1, 2).bmm(bases)) + 1e-6)
    if update_bases:
        bases = bases * torch.bmm(x, coef) / (bases.bmm(coef.transpose(1, 2).bmm(coef)) + 1e-6)
    return bases, coef


class NMF2D(nn.Module):
    """Low-rank NMF of a feature map: (B, C, H, W) -> its rank-``MD_R`` reconstruction (B, C, H, W).

    The map is split into ``MD_S`` groups of D = C / MD_S channels, each a (D, H*W) matrix. Bases
    (D, R) start unit-norm random (``rand_init``: fresh from the global RNG each call; else the fixed
    buffer ``bases``), coefficients start as ``softmax(x^T bases)`` over R; then ``train_steps`` (training)
    or ``eval_steps`` (eval) multiplicative updates, and a last coefficient update. Gradients flow through
    all steps (MMSeg 1.2.2). ``inv_t`` is accepted for MMSeg configs but, as in MMSeg's NMF2D, the
    softmax temperature is always 1 (a value other than 1 warns).
    """

    def __init__(
        self,
        ham_channels: int,
        MD_S: int = 1,  # noqa: N803 - MMSeg's argument names
        MD_R: int = 64,  # noqa: N803
        train_steps: int = 6,
        eval_steps: int = 7,
        inv_t: float | None = None,
        rand_init: bool = True,
    ) -> None:
        super().__init__()
        if MD_S < 1 or ham_channels % MD_S:
            raise ConfigError(f"NMF2D: ham_channels ({ham_channels}) must split into MD_S={MD_S} equal groups")
        if MD_R < 1 or train_steps < 0 or eval_steps < 0:
            raise ConfigError(f"NMF2D: need MD_R >= 1 and non-negative steps, got MD_R={MD_R}, "
                              f"train_steps={train_steps}, eval_steps={eval_steps}")
        if inv_t is not None and inv_t != 1:
            warnings.warn(f"ham_kwargs inv_t={inv_t} has no effect: NMF2D's softmax temperature is fixed at 1 "
                          "(as in MMSeg, whose NMF2D overrides it); remove inv_t to silence this", stacklevel=3)
        self.S, self.D, self.R = MD_S, ham_channels // MD_S, MD_R
        self.train_steps, self.eval_steps = train_steps, eval_steps
        self.inv_t = 1
        self.rand_init = rand_init
        if not rand_init:
            # MMSeg registers this buffer at the first forward; at construction it is in the state dict
            # from the start, so checkpoints holding it load strictly.
            self.register_buffer("bases", F.normalize(torch.rand((self.S, self.D, self.R)), dim=1))

    def _random_bases(self, batch: int, device: torch.device) -> torch.Tensor:
        """(batch * S, D, R) unit-norm (over D) uniform bases from the global CPU generator (MMSeg's draw)."""
        return F.normalize(torch.rand((batch * self.S, self.D, self.R)).to(device), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) non-negative -> (B, C, H, W) reconstruction."""
        b, c, h, w = x.shape
        if c != self.S * self.D:
            raise ValueError(f"NMF2D: expected {self.S * self.D} channels, got {c}")
        x = x.reshape(b * self.S, self.D, h * w)
        bases = self._random_bases(b, x.device) if self.rand_init else self.bases.repeat(b, 1, 1)
        bases = bases.to(x.dtype)
        coef = torch.softmax(self.inv_t * torch.bmm(x.transpose(1, 2), bases), dim=-1)
        for _ in range(self.train_steps if self.training else self.eval_steps):
            bases, coef = nmf_multiplicative_step(x, bases, coef)
        _, coef = nmf_multiplicative_step(x, bases, coef, update_bases=False)
        return torch.bmm(bases, coef.transpose(1, 2)).reshape(b, c, h, w)


class Hamburger(nn.Module):
    """``relu(x + ham_out(NMF(relu(ham_in(x)))))``: (B, C, H, W) -> (B, C, H, W); ``ham_out`` has the norm."""

    def __init__(self, ham_channels: int = 512, ham_kwargs: dict | None = None, norm_cfg: dict | None = None) -> None:
        super().__init__()
        self.ham_in = ConvModule(ham_channels, ham_channels, 1, norm_cfg=None, act_cfg=None)
        self.ham = NMF2D(ham_channels, **_check_ham_kwargs(ham_kwargs))
        self.ham_out = ConvModule(ham_channels, ham_channels, 1, norm_cfg=norm_cfg, act_cfg=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enjoy = self.ham_out(self.ham(F.relu(self.ham_in(x))))
        return F.relu(x + enjoy)


_HAM_KEYS = ("MD_S", "MD_R", "train_steps", "eval_steps", "inv_t", "rand_init")


def _check_ham_kwargs(ham_kwargs: dict | None) -> dict:
    """``ham_kwargs`` as a dict of NMF2D arguments; an unknown key fails naming the valid ones."""
    ham_kwargs = dict(ham_kwargs or {})
    unknown = sorted(set(ham_kwargs) - set(_HAM_KEYS))
    if unknown:
        raise ConfigError(f"LightHamHead: unknown ham_kwargs {unknown}; NMF2D takes {', '.join(_HAM_KEYS)}")
    return ham_kwargs


def _rewind_rng_to_mmseg(rng_before: torch.Tensor, conv_seg: nn.Conv2d) -> None:
    """Leave the global CPU RNG where MMSeg's head construction leaves it.

    BaseDecodeHead re-draws ``conv_seg`` from N(0, 0.01) in its constructor; MMSeg does that only in
    ``init_weights()``. The NMF bases of every forward come from the global RNG, so a model built after
    ``torch.manual_seed(s)`` reproduces MMSeg's outputs only if building consumed the same random numbers:
    rewind, and replay just the default init MMSeg's constructor draws for ``conv_seg``.
    """
    torch.random.set_rng_state(rng_before)
    nn.Conv2d(conv_seg.in_channels, conv_seg.out_channels, 1, device=conv_seg.weight.device)


@MODELS.register_module()
class LightHamHead(BaseDecodeHead):
    """Resize the ``in_index`` levels to the first one's size, concatenate, squeeze to ``ham_channels``
    (1x1 conv-norm-act), Hamburger, align to ``channels`` (1x1 conv-norm-act), classify.

    ``ham_kwargs``: NMF2D arguments (MD_S, MD_R, train_steps, eval_steps, inv_t, rand_init). Other
    arguments are those of :class:`BaseDecodeHead`. Output: (N, out_channels, h0, w0).
    """

    def __init__(self, ham_channels: int = 512, ham_kwargs: dict | None = None, **kwargs) -> None:
        transform = kwargs.pop("input_transform", "multiple_select")
        if transform != "multiple_select":
            raise ConfigError(f"LightHamHead reads several levels: input_transform must be 'multiple_select', "
                              f"got {transform!r}")
        rng_before = torch.random.get_rng_state()
        super().__init__(input_transform="multiple_select", **kwargs)
        _rewind_rng_to_mmseg(rng_before, self.conv_seg)
        self.ham_channels = ham_channels
        conv_kw = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.squeeze = ConvModule(sum(self.in_channels), ham_channels, 1, **conv_kw)
        self.hamburger = Hamburger(ham_channels, ham_kwargs, norm_cfg=self.norm_cfg)
        self.align = ConvModule(ham_channels, self.channels, 1, **conv_kw)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Levels (N, C_i, h_i, w_i) -> logits (N, out_channels, h0, w0)."""
        levels = self._transform_inputs(inputs)
        size = levels[0].shape[2:]
        x = torch.cat([resize(lv, size=size, mode="bilinear", align_corners=self.align_corners) for lv in levels], 1)
        return self.cls_seg(self.align(self.hamburger(self.squeeze(x))))
