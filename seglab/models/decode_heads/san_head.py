"""SAN's decode head: Side Adapter Network for Open-Vocabulary Semantic Segmentation (Xu et al. 2023,
https://arxiv.org/abs/2302.12242), MMSeg's ``SideAdapterCLIPHead``.

Input (from ``MultimodalEncoderDecoder``): ``[image, clip_features, class_embeds]`` — the normalised
image (N, 3, H, W), the CLIP image encoder's outputs (each ``[map (N, C, h, w), cls (N, C)]``) and the
text encoder's class embeddings (K + 1, D), the last being "no class". The side adapter proposes Q masks
and attention biases; CLIP's last layers turn each mask into an embedding; its dot products with the
class embeddings are the class logits (N, Q, K + 1). Semantic logits are ``softmax(cls)[..., :K]`` x
``sigmoid(mask)`` summed over queries.

Training is mask classification: each layer's proposals are matched to the ground-truth class masks
(Hungarian, on sampled points), then cross-entropy on classes and BCE + dice on uncertain points.
State-dict keys: ``side_adapter_network.*`` and ``rec_with_attnbias.*`` (no ``conv_seg``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ...registry import MODELS, ConfigError
from ...structures import SegDataSample
from ..mask_classification import build_mmdet, get_uncertain_point_coords_with_randomness, point_sample
from ..mask_classification._registry import TASK_UTILS
from ..mask_classification.head_base import reduce_mean, seg_data_to_instance_data, semantic_inference
from ..weight_init import load_pretrained
from ._side_adapter import RecWithAttnbias, SideAdapterNetwork
from .decode_head import BaseDecodeHead

__all__ = ["SideAdapterCLIPHead"]

# BaseDecodeHead arguments that SAN's head never uses, with their harmless default values.
_NO_EFFECT = dict(out_channels=None, threshold=None, dropout_ratio=0.1, conv_cfg=None, norm_cfg=None,
                  act_cfg=dict(type="ReLU"), in_index=-1, input_transform=None, sampler=None)
_TRAIN_KEYS = ("num_points", "oversample_ratio", "importance_sample_ratio", "assigner")


@MODELS.register_module()
class SideAdapterCLIPHead(BaseDecodeHead):
    """SAN's head: ``san_cfg`` builds the ``SideAdapterNetwork``, ``maskgen_cfg`` the ``RecWithAttnbias``.

    ``deep_supervision_idxs`` (1-based side-adapter layers) add losses ``d{i}.loss_*`` in training;
    ``train_cfg`` holds ``num_points``, ``oversample_ratio``, ``importance_sample_ratio`` and ``assigner``.
    ``loss_decode`` is a list of losses named ``loss_cls_ce`` (CrossEntropyLoss on classes),
    ``loss_mask_ce`` (sigmoid CrossEntropyLoss on mask points) and ``loss_mask_dice`` (DiceLoss).
    """

    def __init__(self, num_classes: int, san_cfg: dict, maskgen_cfg: dict, deep_supervision_idxs: Sequence[int],
                 train_cfg: dict | None, **kwargs) -> None:
        san_cfg, maskgen_cfg = dict(san_cfg), dict(maskgen_cfg)
        ignored = {k: v for k, v in kwargs.items() if k in _NO_EFFECT and v != _NO_EFFECT[k]}
        if ignored:
            raise ConfigError(f"SideAdapterCLIPHead: {sorted(ignored)} have no effect here (masks come from the side "
                              "adapter, classes from the text encoder); remove them")
        super().__init__(in_channels=san_cfg.get("in_channels", 3), channels=san_cfg.get("embed_dims", 240),
                         num_classes=num_classes, **kwargs)
        if san_cfg.get("num_queries", 100) != maskgen_cfg.get("sos_token_num", 100):
            raise ConfigError("SideAdapterCLIPHead: san_cfg.num_queries and maskgen_cfg.sos_token_num must be "
                              f"equal (one sos token per query), got {san_cfg.get('num_queries', 100)} and "
                              f"{maskgen_cfg.get('sos_token_num', 100)}")
        del self.conv_seg  # classes come from the text embeddings
        self.dropout = None
        self.num_queries = san_cfg.get("num_queries", 100)
        self.side_adapter_network = SideAdapterNetwork(**san_cfg)
        self.rec_with_attnbias = RecWithAttnbias(**maskgen_cfg)
        decoder_layers = self.side_adapter_network.mask_decoder.total_layers
        if decoder_layers not in (1, self.rec_with_attnbias.num_layers):
            raise ConfigError(f"SideAdapterCLIPHead: san_cfg.cfg_decoder.num_layers={decoder_layers} must be 1 or "
                              f"maskgen_cfg.num_layers={self.rec_with_attnbias.num_layers} (one bias per layer)")
        self.deep_supervision_idxs = list(deep_supervision_idxs)
        self.train_cfg = dict(train_cfg) if train_cfg else {}
        self.assigner = None
        if self.train_cfg:
            missing = [k for k in _TRAIN_KEYS if k not in self.train_cfg]
            if missing:
                raise ConfigError(f"SideAdapterCLIPHead: train_cfg lacks {missing}; it needs {list(_TRAIN_KEYS)}")
            self.assigner = build_mmdet(self.train_cfg["assigner"], TASK_UTILS)

    def _check_losses(self) -> None:
        # At the first loss, not at build: MMSeg's own VOC/Context SAN configs carry 172 class weights, and
        # building their models (for inference or conversion) must keep working.
        names = [fn.loss_name for fn in self.losses_iter()]
        unknown = [n for n in names if n not in ("loss_cls_ce", "loss_mask_ce", "loss_mask_dice")]
        if unknown:
            raise ConfigError(f"SideAdapterCLIPHead: loss_decode names {unknown}; SAN's losses are 'loss_cls_ce' "
                              "(CrossEntropyLoss), 'loss_mask_ce' (CrossEntropyLoss, use_sigmoid=True) and "
                              "'loss_mask_dice' (DiceLoss)")
        weight = getattr(next((fn for fn in self.losses_iter() if fn.loss_name == "loss_cls_ce"), None),
                         "class_weight", None)
        if weight is not None and len(weight) != self.num_classes + 1:
            raise ConfigError(f"SideAdapterCLIPHead: loss_cls_ce has {len(weight)} class weights; it needs "
                              f"num_classes + 1 = {self.num_classes + 1} (the last weighs 'no object')")

    def init_weights(self) -> bool:
        """The side adapter's init; ``Pretrained_Part`` loads the CLIP layers under ``decode_head.rec_with_attnbias.``."""
        self.side_adapter_network.init_weights()
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get("type") == "Pretrained_Part":
            return load_pretrained(self.rec_with_attnbias, dict(cfg, type="Pretrained",
                                                                prefix="decode_head.rec_with_attnbias."),
                                   "SideAdapterCLIPHead.rec_with_attnbias")
        return load_pretrained(self, cfg)

    def forward(self, inputs: Sequence, deep_supervision_idxs: Sequence[int] = ()) -> tuple[list, list]:
        """Per decoded layer: mask logits (N, Q, h, w) and class logits (N, Q, K + 1)."""
        image, clip_features, class_embeds = inputs
        masks, biases = self.side_adapter_network(image, clip_features, deep_supervision_idxs)
        cls = [torch.einsum("bqc,nc->bqn", self.rec_with_attnbias(b, clip_features[-1]), class_embeds)
               for b in biases]
        return masks, cls

    def predict(self, inputs: Sequence, batch_img_metas: list[dict], test_cfg: dict | None = None) -> torch.Tensor:
        """Semantic logits (N, K, H, W) at the metas' padded input size, from the last layer."""
        masks, cls = self.forward(inputs)
        meta = batch_img_metas[0]
        size = meta["pad_shape"] if "pad_shape" in meta else meta["img_shape"]
        return semantic_inference(cls[-1], masks[-1], size)

    # -- training -------------------------------------------------------------------------------
    def _match(self, cls: torch.Tensor, masks: torch.Tensor, gts: list[dict]) -> tuple[torch.Tensor, ...]:
        """Labels (N, Q) (unmatched = K), matched targets (P, H, W) and mask weights (N, Q) of one layer;
        the cost compares ``num_points`` random points of each predicted and ground-truth mask."""
        num_points = self.train_cfg["num_points"]
        labels, targets, weights = [], [], []
        for c, m, gt in zip(cls, masks, gts):
            label = torch.full((self.num_queries,), self.num_classes, dtype=torch.long, device=c.device)
            weight = c.new_zeros(self.num_queries)
            if len(gt["labels"]) == 0:
                labels.append(label)
                weights.append(weight)
                targets.append(gt["masks"])
                continue
            coords = torch.rand(1, num_points, 2, device=c.device)
            pred_points = point_sample(m.unsqueeze(1), coords.repeat(m.shape[0], 1, 1)).squeeze(1)
            gt_points = point_sample(gt["masks"].unsqueeze(1).float(),
                                     coords.repeat(len(gt["labels"]), 1, 1)).squeeze(1)
            result = self.assigner.assign(dict(scores=c, masks=pred_points),
                                          dict(labels=gt["labels"], masks=gt_points))
            query = torch.nonzero(result.gt_inds > 0).squeeze(-1)
            matched = result.gt_inds[query] - 1
            label[query] = gt["labels"][matched]
            weight[query] = 1
            labels.append(label)
            weights.append(weight)
            targets.append(gt["masks"][matched])
        return torch.stack(labels), torch.cat(targets), torch.stack(weights)

    def _layer_losses(self, cls: torch.Tensor, masks: torch.Tensor, gts: list[dict]) -> dict[str, torch.Tensor]:
        labels, targets, weights = self._match(cls, masks, gts)
        num_masks = reduce_mean(cls.new_tensor(float(sum(len(g["labels"]) for g in gts)))).clamp(min=1)
        masks = masks[weights > 0]
        cfg = self.train_cfg
        if targets.shape[0] > 0:
            with torch.no_grad():
                coords = get_uncertain_point_coords_with_randomness(masks.unsqueeze(1), None, cfg["num_points"],
                                                                    cfg["oversample_ratio"],
                                                                    cfg["importance_sample_ratio"])
                target_points = point_sample(targets.unsqueeze(1).float(), coords).squeeze(1)
            pred_points = point_sample(masks.unsqueeze(1), coords).squeeze(1)
        losses = {}
        for fn in self.losses_iter():
            if fn.loss_name == "loss_cls_ce":
                losses[fn.loss_name] = fn(cls.flatten(0, 1), labels.flatten(0, 1))
            elif targets.shape[0] == 0:
                losses[fn.loss_name] = masks.sum()  # no ground truth: a zero that keeps the graph
            elif fn.loss_name == "loss_mask_ce":
                losses[fn.loss_name] = fn(pred_points, target_points, avg_factor=num_masks * cfg["num_points"])
            else:
                losses[fn.loss_name] = fn(pred_points, target_points, avg_factor=num_masks)
        return losses

    def loss(self, inputs: Sequence, batch_data_samples: list[SegDataSample],
             train_cfg: dict | None = None) -> dict[str, torch.Tensor]:
        """Losses of the last layer and, as ``d{i}.loss_*``, of each deep-supervised side-adapter layer ``i``."""
        if self.assigner is None:
            raise ConfigError("SideAdapterCLIPHead: training needs decode_head.train_cfg with num_points, "
                              "oversample_ratio, importance_sample_ratio and an assigner (see configs/san)")
        self._check_losses()
        gts = seg_data_to_instance_data(batch_data_samples, self.ignore_index)
        masks, cls = self.forward(inputs, self.deep_supervision_idxs)
        per_layer = [self._layer_losses(c, m, gts) for c, m in zip(cls, masks)]
        losses = dict(per_layer[-1])
        for idx, layer in zip(self.deep_supervision_idxs, per_layer[:-1]):
            losses.update({f"d{idx}.{k}": v for k, v in layer.items()})
        return losses
