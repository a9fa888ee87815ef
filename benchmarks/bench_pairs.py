"""The same model in both libraries for bench_models.py: the model dicts, the imports, identical weights.

seglab never imports MMSegmentation; only these benchmark scripts do.
"""

from __future__ import annotations

import copy
import json
import logging
import os.path as osp
import sys
import warnings
from typing import Any

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
GOLDEN_DIR = osp.join(REPO, "..", "shared", "parity", "goldens")

# name -> where its model dict comes from: a parity manifest (MMSeg's own resolved dict) or a
# seglab config file (which then also proves that our config builds in MMSeg).
MODELS_TABLE: dict[str, tuple[str, str]] = {
    "fcn_r18": ("golden", "fcn_r18-d8_4xb2-80k_cityscapes-512x1024"),
    "pspnet_r50": ("golden", "pspnet_r50-d8_4xb2-40k_cityscapes-512x1024"),
    "deeplabv3plus_r50": ("golden", "deeplabv3plus_r50-d8_4xb2-40k_cityscapes-512x1024"),
    "upernet_r50": ("golden", "upernet_r50_4xb4-160k_ade20k-512x512"),
    "fpn_r50": ("golden", "fpn_r50_4xb4-160k_ade20k-512x512"),
    # CCNet/PSANet need mmcv's compiled ops, which the reference (mmcv-lite) lacks: DANet is the
    # attention head MMSeg can run without them.
    "danet_r50": ("config", "configs/danet/danet_r50-d8_4xb2-40k_cityscapes-512x1024.py"),
    # Transformer backbones: MiT (efficient attention, Mix-FFN) and Swin (shifted windows).
    "segformer_b0": ("golden", "segformer_mit-b0_8xb2-160k_ade20k-512x512"),
    "swin_t_upernet": ("golden", "swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512"),
    # Real-time networks, timed at Cityscapes' 512x1024 (--size 512 1024).
    "bisenetv2": ("golden", "bisenetv2_fcn_4xb4-160k_cityscapes-1024x1024"),
    "stdc1": ("golden", "stdc1_4xb12-80k_cityscapes-512x1024"),
    "pidnet_s": ("golden", "pidnet-s_2xb6-120k_1024x1024-cityscapes"),
}
DEFAULT_MODELS = list(MODELS_TABLE)
# MMSeg 1.2.2's CrossEntropyLoss with class_weight indexes the weights with every label, so an ignored
# (255) pixel raises IndexError: these models train on labels without ignored pixels.
NO_IGNORED_LABELS = {"pidnet_s"}


def import_libraries() -> tuple[dict, dict]:
    """Import both libraries; exit with a clear message when MMSegmentation is missing."""
    try:
        import mmseg
        from mmengine.logging import MMLogger
        from mmengine.structures import PixelData
        from mmseg.registry import METRICS, MODELS, TRANSFORMS
        from mmseg.structures import SegDataSample
        from mmseg.utils import register_all_modules
    except ImportError as e:
        sys.exit(
            f"bench_models.py compares against MMSegmentation, which could not be imported ({e}).\n"
            "Install it next to seglab, e.g.: . /work/mmseg-ref/bin/activate && pip install --no-deps -e ."
        )
    register_all_modules(init_default_scope=True)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mmseg\.")  # deprecation chatter
    MMLogger.get_instance("mmengine").setLevel(logging.WARNING)  # its per-class tables
    from mmengine.dataset import Compose as MMCompose
    from mmengine.dataset import pseudo_collate as mm_collate
    from mmengine.optim import build_optim_wrapper as mm_build_optim_wrapper

    import seglab.datasets
    import seglab.evaluation
    import seglab.models
    from seglab.config import Config
    from seglab.datasets import pseudo_collate
    from seglab.datasets.transforms import Compose
    from seglab.engine.loops import run_step
    from seglab.engine.optim import build_optim_wrapper
    from seglab.registry import METRICS as S_METRICS
    from seglab.registry import MODELS as S_MODELS
    from seglab.registry import TRANSFORMS as S_TRANSFORMS
    from seglab.structures import SegDataSample as SSample

    logging.getLogger("seglab").setLevel(logging.WARNING)
    mm = {
        "version": mmseg.__version__,
        "MODELS": MODELS,
        "TRANSFORMS": TRANSFORMS,
        "METRICS": METRICS,
        "Sample": SegDataSample,
        "PixelData": PixelData,
        "Compose": MMCompose,
        "collate": mm_collate,
        "build_optim_wrapper": mm_build_optim_wrapper,
    }
    import seglab
    from seglab.engine.compiled import compile_forward

    sl = {
        "version": seglab.__version__,
        "MODELS": S_MODELS,
        "TRANSFORMS": S_TRANSFORMS,
        "METRICS": S_METRICS,
        "Sample": SSample,
        "Compose": Compose,
        "collate": pseudo_collate,
        "build_optim_wrapper": build_optim_wrapper,
        "run_step": run_step,
        "Config": Config,
        "fuse_conv_bn": seglab.models.fuse_conv_bn,
        "winograd_conv": seglab.models.winograd_conv,
        "blocked_depthwise": seglab.models.blocked_depthwise,
        "winograd_convs": seglab.models.winograd_convs,
        "folded_pairs": seglab.models.folded_pairs,
        "compile_forward": compile_forward,
    }
    return mm, sl


def to_plain(obj: Any) -> Any:
    """Config values as plain dicts/lists; SyncBN -> BN (one process), pretrained weights dropped."""
    if isinstance(obj, dict) or hasattr(obj, "items"):
        d = {k: to_plain(v) for k, v in obj.items()}
        if d.get("type") == "SyncBN":
            d["type"] = "BN"
        return d
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_plain(v) for v in obj)
    return obj


def model_cfg(name: str, sl: dict) -> dict:
    """The model dict both libraries build for ``name``."""
    kind, ref = MODELS_TABLE[name]
    if kind == "golden":
        with open(osp.join(GOLDEN_DIR, ref + ".keys.json")) as f:
            cfg = json.load(f)["model_cfg"]
    else:
        cfg = to_plain(sl["Config"].fromfile(osp.join(REPO, ref))["model"])
    cfg = to_plain(cfg)
    cfg["data_preprocessor"] = None
    cfg.pop("pretrained", None)
    cfg["backbone"].pop("init_cfg", None)
    return cfg


def build_pair(name: str, mm: dict, sl: dict, device: Any) -> tuple[Any, Any, dict]:
    """seglab and MMSeg models with identical weights (MMSeg loads seglab's state_dict strictly)."""
    import torch

    cfg = model_cfg(name, sl)
    torch.manual_seed(0)
    ours = sl["MODELS"].build(copy.deepcopy(cfg))
    # Non-trivial BN statistics so that the eval-mode output comparison means something.
    g = torch.Generator().manual_seed(1)
    for m in ours.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    ref = mm["MODELS"].build(copy.deepcopy(cfg))
    ref.load_state_dict(ours.state_dict(), strict=True)
    return ours.to(device), ref.to(device), cfg


def samples(lib: dict, n: int, size: tuple[int, int], num_classes: int, device: Any, mm: bool,
            ignored: bool = True) -> list:
    """``n`` data samples with a random (1, H, W) label map (some rows ignored) and its 0/1 edge map (PIDNet's
    boundary head reads ``gt_edge_map``)."""
    import torch

    g = torch.Generator().manual_seed(2)
    out = []
    for _ in range(n):
        label = torch.randint(0, num_classes, (1, *size), generator=g)
        if ignored:
            label[:, : size[0] // 8] = 255
        edge = torch.zeros_like(label)
        edge[:, 1:] = (label[:, 1:] != label[:, :-1]).long()
        meta = {"img_shape": size, "ori_shape": size, "pad_shape": size}
        if mm:
            s = lib["Sample"](metainfo=meta)
            s.gt_sem_seg = lib["PixelData"](data=label)
            s.gt_edge_map = lib["PixelData"](data=edge)
        else:
            s = lib["Sample"](metainfo=meta, gt_sem_seg=label, gt_edge_map=edge)
        out.append(s.to(device))
    return out


def max_abs_diff(a: Any, b: Any) -> float:
    """Largest |a - b| over tensors or (nested) tuples of tensors (DANet returns three logits)."""
    if isinstance(a, (tuple, list)):
        if len(a) != len(b):
            raise ValueError(f"outputs differ in structure: {len(a)} vs {len(b)} tensors")
        return max(max_abs_diff(x, y) for x, y in zip(a, b))
    if a.shape != b.shape:
        raise ValueError(f"outputs differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    return (a - b).abs().max().item()


def reference_flops(ref: Any, x: Any, data_samples: list | None = None) -> float:
    """FLOPs (torch's FlopCounterMode) of MMSeg's model on ``x``: its forward (no samples), or, with
    ``data_samples``, one forward + backward of its training losses on a copy (the models timed keep their state).

    Both libraries' shares of the peak are taken of this one count, the reference algorithm's work, so a seglab
    path that does fewer multiplications (Winograd, SegFormer's per-level fusion) shows as a larger share.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    if data_samples is None:
        with torch.no_grad(), counter:
            ref(x, mode="tensor")
    else:
        model = copy.deepcopy(ref).train()
        with counter:
            losses = model(x, data_samples, mode="loss")
            sum(v for k, v in losses.items() if "loss" in k).backward()
    return float(counter.get_total_flops())

