"""MultimodalEncoderDecoder (MMSeg's): an image encoder (CLIP ViT), a text encoder (class names -> class
embeddings) and a decode head that combines both — open-vocabulary segmentation (SAN).

State-dict keys: ``image_encoder.*``, ``text_encoder.*``, ``decode_head.*``. With ``asymetric_input`` the
image encoder sees the input resized by ``encoder_resolution`` (bilinear) while the head sees it whole.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ...registry import MODELS, ConfigError
from ...structures import SegDataSample
from .base import BaseSegmentor
from .encoder_decoder import EncoderDecoder, add_prefix

__all__ = ["MultimodalEncoderDecoder"]


def _with_init_cfg(cfg: dict | nn.Module, init_cfg: dict) -> dict | nn.Module:
    if isinstance(cfg, dict):
        return dict(cfg, init_cfg=init_cfg)
    cfg.init_cfg = init_cfg
    return cfg


@MODELS.register_module()
class MultimodalEncoderDecoder(EncoderDecoder):
    """``image_encoder`` -> features, ``text_encoder()`` -> class embeddings, ``decode_head`` -> logits.

    ``pretrained`` (a whole SAN/CLIP checkpoint) loads each part from its own prefix (MMSeg's
    ``Pretrained_Part``). Inference ('whole' or 'slide') and post-processing are EncoderDecoder's.
    ``set_vocabulary(class_names)`` switches the classes of an open-vocabulary model at run time.
    """

    def __init__(
        self,
        image_encoder: dict | nn.Module,
        text_encoder: dict | nn.Module,
        decode_head: dict | nn.Module,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        data_preprocessor: dict | nn.Module | None = None,
        pretrained: str | None = None,
        asymetric_input: bool = True,
        encoder_resolution: float | None = None,
        init_cfg: dict | list | None = None,
    ) -> None:
        BaseSegmentor.__init__(self, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if pretrained is not None:
            if not isinstance(pretrained, (str, os.PathLike)):
                raise ConfigError(f"model.pretrained must be a checkpoint path or URL, or None; got {pretrained!r}")
            part = dict(type="Pretrained_Part", checkpoint=os.fspath(pretrained))
            image_encoder, text_encoder, decode_head = (
                _with_init_cfg(c, part) for c in (image_encoder, text_encoder, decode_head))
        if asymetric_input and (encoder_resolution is None or encoder_resolution <= 0):
            raise ConfigError("MultimodalEncoderDecoder: asymetric_input=True needs encoder_resolution > 0 (the "
                              f"scale of the image encoder's input), got {encoder_resolution!r}")
        self.asymetric_input = asymetric_input
        self.encoder_resolution = encoder_resolution
        self.image_encoder = MODELS.build(image_encoder)
        self.text_encoder = MODELS.build(text_encoder)
        self._dataset_meta: dict | None = None
        self._init_decode_head(decode_head)
        self.auxiliary_head = None
        self.neck = None
        self.train_cfg = dict(train_cfg) if train_cfg else {}
        self.test_cfg = dict(test_cfg) if test_cfg else dict(mode="whole")
        num_text = getattr(self.text_encoder, "num_classes", None)
        if num_text is not None and num_text != self.num_classes:
            raise ConfigError(f"MultimodalEncoderDecoder: the text encoder names {num_text} classes but "
                              f"decode_head.num_classes={self.num_classes}; make them equal")

    def set_vocabulary(self, class_names: Sequence[str]) -> None:
        """Segment into ``class_names`` from now on (inference; the text encoder embeds them on first use)."""
        self.text_encoder.set_vocabulary(class_names)
        n = len(class_names)
        self.num_classes = self.out_channels = n
        self.decode_head.num_classes = self.decode_head.out_channels = n
        self.dataset_meta = self.dataset_meta  # re-derive the class names and colours

    @property
    def dataset_meta(self) -> dict | None:
        """``{'classes', 'palette'}`` for visualisers; the classes are always the text encoder's."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta: dict | None) -> None:
        # init_model sets this from the checkpoint (the training dataset's classes); an open-vocabulary
        # model segments into its text encoder's classes, so those win, keeping the colours where they fit.
        names = getattr(self.text_encoder, "class_names", None)
        if meta is None or names is None:
            self._dataset_meta = meta
            return
        palette = [list(c) for c in (meta.get("palette") or [])][: len(names)]
        gen = torch.Generator().manual_seed(len(names))
        palette += torch.randint(0, 256, (len(names) - len(palette), 3), generator=gen).tolist()
        self._dataset_meta = dict(meta, classes=tuple(names), palette=palette)

    def extract_feat(self, inputs: torch.Tensor) -> tuple:
        """Image-encoder features of the (resized, with ``asymetric_input``) batch."""
        if self.asymetric_input:
            inputs = F.interpolate(inputs, scale_factor=self.encoder_resolution, mode="bilinear")
        return self.image_encoder(inputs)

    def _head_inputs(self, inputs: torch.Tensor) -> list:
        return [inputs, self.extract_feat(inputs), self.text_encoder()]

    def encode_decode(self, inputs: torch.Tensor, batch_img_metas: list[dict]) -> torch.Tensor:
        """Logits (N, num_classes, H, W) at the metas' (padded) input shape."""
        return self.decode_head.predict(self._head_inputs(inputs), batch_img_metas, self.test_cfg)

    def _forward(self, inputs: torch.Tensor, data_samples: list[SegDataSample] | None = None) -> tuple:
        """The head's raw outputs as trained, like MaskFormer's ``(cls_scores_per_layer, mask_preds_per_layer)``:
        class logits (N, Q, K + 1) and mask logits (N, Q, h, w) of the deep-supervised layers and the last."""
        masks, cls = self.decode_head.forward(self._head_inputs(inputs), self.decode_head.deep_supervision_idxs)
        return cls, masks

    def loss(self, inputs: torch.Tensor, data_samples: list[SegDataSample]) -> dict[str, torch.Tensor]:
        """The decode head's losses as 'decode.*'."""
        return add_prefix(self.decode_head.loss(self._head_inputs(inputs), data_samples, self.train_cfg), "decode")
