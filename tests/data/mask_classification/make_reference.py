"""Make reference.npz + cases.json for tests/models/mask_classification (a dev script, run by hand).

Run inside the MMSegmentation reference env (../shared/tools/mmseg-reference-env.sh), from the repo root:

    /work/mmseg-ref/bin/python tests/data/mask_classification/make_reference.py

Each case builds a small MMSeg 1.2.2 / mmdet 3.3.0 / MMCV 2.1.0 module with constructor arguments other
than the parity goldens' (levels, widths, decoders, dropout-free), gives every parameter a seeded random
value (``randomize``; per-parameter sums are stored to check the order), and records the inputs and the outputs (forward of every decoder layer, predict,
and the training losses under a fixed torch seed).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
IMG = (64, 80)  # image (H, W); features at strides 4, 8, 16, 32
NUM_CLASSES = 5


def feats(channels: list[int], seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    h, w = IMG
    return [torch.randn(2, c, -(-h // s), -(-w // s), generator=gen) for c, s in zip(channels, (4, 8, 16, 32))]


def labels(seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    lab = torch.randint(0, NUM_CLASSES, (2, 1, IMG[0] // 8, IMG[1] // 8), generator=gen)
    lab = torch.nn.functional.interpolate(lab.float(), size=IMG, mode="nearest").long()
    lab[0, :, :10] = 255
    lab[1, :, :, -7:] = 255
    return lab


def randomize(module: torch.nn.Module, seed: int) -> None:
    """Seeded values for every parameter in ``named_parameters`` order (the test repeats this rule on
    seglab's module, whose parameter order is MMSeg's; per-parameter sums in the npz check it)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / max(1, p[0].numel()) ** 0.5)
            elif name.endswith("weight"):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))


def _attn(dims: int, heads: int) -> dict:
    return dict(embed_dims=dims, num_heads=heads, attn_drop=0.0, proj_drop=0.0, dropout_layer=None, batch_first=True)


def _ffn(dims: int, hidden: int) -> dict:
    return dict(embed_dims=dims, feedforward_channels=hidden, num_fcs=2, act_cfg=dict(type="ReLU", inplace=True),
                ffn_drop=0.0, dropout_layer=None, add_identity=True)


def _train_cfg(mask2former: bool) -> dict:
    costs = [dict(type="mmdet.ClassificationCost", weight=2.0),
             dict(type="mmdet.CrossEntropyLossCost", weight=5.0, use_sigmoid=True),
             dict(type="mmdet.DiceCost", weight=5.0, pred_act=True, eps=1.0)] if mask2former else [
             dict(type="mmdet.ClassificationCost", weight=1.0),
             dict(type="mmdet.FocalLossCost", weight=20.0, binary_input=True),
             dict(type="mmdet.DiceCost", weight=1.0, pred_act=True, eps=1.0)]
    cfg = dict(assigner=dict(type="mmdet.HungarianAssigner", match_costs=costs),
               sampler=dict(type="mmdet.MaskPseudoSampler"))
    if mask2former:
        cfg.update(num_points=64, oversample_ratio=3.0, importance_sample_ratio=0.75)
    return cfg


def mask2former(levels: int, in_channels: list[int], enforce: bool, pos: dict) -> dict:
    return dict(
        type="Mask2FormerHead", in_channels=in_channels, strides=[4, 8, 16, 32], feat_channels=32, out_channels=24,
        num_classes=NUM_CLASSES, num_queries=6, num_transformer_feat_level=levels, align_corners=False,
        pixel_decoder=dict(
            type="mmdet.MSDeformAttnPixelDecoder", num_outs=levels, norm_cfg=dict(type="GN", num_groups=4),
            act_cfg=dict(type="ReLU"),
            encoder=dict(num_layers=2, layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=32, num_heads=4, num_levels=levels, num_points=3, im2col_step=64,
                                   dropout=0.0, batch_first=True, norm_cfg=None, init_cfg=None),
                ffn_cfg=dict(embed_dims=32, feedforward_channels=48, num_fcs=2, ffn_drop=0.0,
                             act_cfg=dict(type="ReLU", inplace=True)))),
            positional_encoding=pos),
        enforce_decoder_input_project=enforce, positional_encoding=pos,
        transformer_decoder=dict(return_intermediate=True, num_layers=4, layer_cfg=dict(
            self_attn_cfg=_attn(32, 4), cross_attn_cfg=_attn(32, 4), ffn_cfg=_ffn(32, 40))),
        loss_cls=dict(type="mmdet.CrossEntropyLoss", use_sigmoid=False, loss_weight=2.0, reduction="mean",
                      class_weight=[1.0] * NUM_CLASSES + [0.1]),
        loss_mask=dict(type="mmdet.CrossEntropyLoss", use_sigmoid=True, reduction="mean", loss_weight=5.0),
        loss_dice=dict(type="mmdet.DiceLoss", use_sigmoid=True, activate=True, reduction="mean", naive_dice=True,
                       eps=1.0, loss_weight=5.0),
        train_cfg=_train_cfg(True))


def maskformer(pixel_decoder: dict, return_intermediate: bool, enforce: bool) -> dict:
    return dict(
        type="MaskFormerHead", in_channels=[8, 16, 24, 32], feat_channels=32, in_index=[0, 1, 2, 3],
        num_classes=NUM_CLASSES, out_channels=32, num_queries=7, pixel_decoder=pixel_decoder,
        enforce_decoder_input_project=enforce, positional_encoding=dict(num_feats=16, normalize=True),
        transformer_decoder=dict(return_intermediate=return_intermediate, num_layers=3, layer_cfg=dict(
            self_attn_cfg=_attn(32, 4), cross_attn_cfg=_attn(32, 2), ffn_cfg=_ffn(32, 40))),
        loss_cls=dict(type="mmdet.CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0, reduction="mean",
                      class_weight=[1.0] * NUM_CLASSES + [0.1]),
        loss_mask=dict(type="mmdet.FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, reduction="mean",
                       loss_weight=20.0),
        loss_dice=dict(type="mmdet.DiceLoss", use_sigmoid=True, activate=True, reduction="mean", naive_dice=True,
                       eps=1.0, loss_weight=1.0),
        train_cfg=_train_cfg(False))


_GN = dict(type="GN", num_groups=4)
CASES = {
    "mask2former-3level-proj": mask2former(3, [8, 16, 24, 32], True, dict(num_feats=16, normalize=True)),
    "mask2former-2level-unnormalized": mask2former(2, [16, 16, 16, 16], False,
                                                   dict(num_feats=16, normalize=False, temperature=50)),
    "maskformer-pixeldecoder": maskformer(dict(type="mmdet.PixelDecoder", norm_cfg=_GN, act_cfg=dict(type="ReLU")),
                                          True, False),
    "maskformer-transformer-encoder": maskformer(dict(
        type="mmdet.TransformerEncoderPixelDecoder", norm_cfg=_GN, act_cfg=dict(type="ReLU"),
        encoder=dict(num_layers=2, layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=32, num_heads=4, dropout=0.0, batch_first=True),
            ffn_cfg=dict(embed_dims=32, feedforward_channels=40, num_fcs=2, ffn_drop=0.0,
                         act_cfg=dict(type="ReLU", inplace=True)))),
        positional_encoding=dict(num_feats=16, normalize=True)), False, True),
}


def run_head(name: str, cfg: dict, arrays: dict) -> None:
    from mmengine.config import ConfigDict
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    head = MODELS.build(ConfigDict(copy.deepcopy(cfg)))
    randomize(head, seed=len(name))
    head.eval()
    channels = cfg["in_channels"]
    x = feats(channels, seed=1)
    meta = dict(img_shape=IMG, pad_shape=IMG, ori_shape=IMG, batch_input_shape=IMG)
    samples = [SegDataSample(metainfo=dict(meta)) for _ in range(2)]
    with torch.no_grad():
        cls_list, mask_list = head(x, samples)
        seg = head.predict(x, [dict(meta) for _ in range(2)], None)
    lab = labels(seed=2)
    train_samples = []
    for i in range(2):
        s = SegDataSample(metainfo=dict(meta))
        s.gt_sem_seg = PixelData(data=lab[i])
        train_samples.append(s)
    torch.manual_seed(0)
    with torch.no_grad():
        losses = head.loss(x, train_samples, cfg["train_cfg"])
    arrays[f"{name}/param_sums"] = np.array([float(p.sum()) for p in head.parameters()])
    for i, f in enumerate(x):
        arrays[f"{name}/in/{i}"] = f.numpy()
    for i, (c, m) in enumerate(zip(cls_list, mask_list)):
        arrays[f"{name}/cls/{i}"] = c.numpy()
        arrays[f"{name}/mask/{i}"] = m.numpy()
    arrays[f"{name}/seg_s4"] = seg[:, :, ::4, ::4].numpy()  # every 4th row/column keeps the file small
    arrays[f"{name}/labels"] = lab.numpy().astype(np.uint8)
    for k, v in losses.items():
        arrays[f"{name}/loss/{k}"] = v.numpy()


def run_msda(arrays: dict) -> dict:
    from mmcv.ops import MultiScaleDeformableAttention

    cfgs = {}
    for ref_dims in (2, 4):
        name = f"msda-ref{ref_dims}"
        cfg = dict(embed_dims=16, num_heads=2, num_levels=2, num_points=3, dropout=0.0, batch_first=True,
                   value_proj_ratio=0.5)
        attn = MultiScaleDeformableAttention(**cfg)
        randomize(attn, seed=ref_dims)
        with torch.no_grad():
            attn.sampling_offsets.weight.mul_(3.0)  # offsets of a few pixels, some outside the map
        gen = torch.Generator().manual_seed(10 + ref_dims)
        shapes = torch.tensor([[4, 5], [2, 3]])
        query = torch.randn(2, 7, 16, generator=gen)
        value = torch.randn(2, 26, 16, generator=gen)
        pos = torch.randn(2, 7, 16, generator=gen)
        ref = torch.rand(2, 7, 2, ref_dims, generator=gen)
        mask = torch.rand(2, 26, generator=gen) < 0.2
        level_start = torch.tensor([0, 20])
        with torch.no_grad():
            out = attn(query, value=value, query_pos=pos, key_padding_mask=mask, reference_points=ref,
                       spatial_shapes=shapes, level_start_index=level_start)
        arrays[f"{name}/param_sums"] = np.array([float(p.sum()) for p in attn.parameters()])
        for k, v in dict(query=query, value=value, pos=pos, ref=ref, mask=mask, out=out).items():
            arrays[f"{name}/{k}"] = v.numpy()
        cfgs[name] = cfg
    return cfgs


def main() -> None:
    from mmseg.utils import register_all_modules

    register_all_modules()
    arrays: dict = {}
    for name, cfg in CASES.items():
        run_head(name, cfg, arrays)
    msda = run_msda(arrays)
    np.savez_compressed(HERE / "reference.npz", **arrays)
    (HERE / "cases.json").write_text(json.dumps(dict(heads=CASES, msda=msda, img=IMG), indent=1) + "\n")
    print(f"wrote {len(arrays)} arrays")


if __name__ == "__main__":
    main()
