"""Regenerate reference.npz: FCNHead and EncoderDecoder outputs from MMSegmentation 1.2.2.

Run in the reference environment only (never imported by seglab or its tests):
    . /work/mmseg-ref/bin/activate && python tests/data/segmentors/make_reference.py
A tiny two-conv backbone (defined identically in tests/models/segmentors/test_encoder_decoder.py)
carries an FCNHead and an auxiliary FCNHead; all weights come from ../shared/parity/fill.py.
"""

import importlib.util
from pathlib import Path

import numpy as np
import torch
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules
from torch import nn

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("fill", HERE.parents[3] / "shared" / "parity" / "fill.py")
fill_mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fill_mod)
register_all_modules()


class ToyBackbone(nn.Module):
    """conv(3->8, s2)-ReLU -> conv(8->16, s2)-ReLU; returns both maps."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 2, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 2, 1)

    def forward(self, x):
        a = torch.relu(self.conv1(x))
        return (a, torch.relu(self.conv2(a)))


MODEL = dict(
    type="EncoderDecoder",
    backbone=dict(type=ToyBackbone),
    decode_head=dict(
        type="FCNHead",
        in_channels=16,
        channels=8,
        num_convs=2,
        dilation=2,
        num_classes=5,
        norm_cfg=dict(type="BN"),
        align_corners=False,
    ),
    auxiliary_head=dict(
        type="FCNHead",
        in_channels=[8, 16],
        in_index=[0, 1],
        input_transform="resize_concat",
        channels=24,
        num_convs=0,
        concat_input=False,
        num_classes=5,
        align_corners=True,
    ),
)


def filled(model):
    return {
        k: torch.from_numpy(fill_mod.fill(k, tuple(v.shape), v.is_floating_point()))
        for k, v in model.state_dict().items()
    }


def main():
    out = {}
    x = torch.from_numpy(fill_mod.parity_input((2, 3, 40, 52)))
    out["x"] = x.numpy()
    for mode, extra in {"whole": {}, "slide": dict(crop_size=(24, 32), stride=(16, 20))}.items():
        cfg = dict(MODEL, test_cfg=ConfigDict(mode=mode, **extra))
        model = MODELS.build(cfg)
        model.load_state_dict(filled(model), strict=True)
        model.eval()
        with torch.no_grad():
            hw = tuple(x.shape[2:])
            metas = [dict(ori_shape=hw, img_shape=hw, pad_shape=hw) for _ in range(2)]
            out[f"{mode}.inference"] = model.inference(x, metas).numpy()
            if mode == "whole":
                out["tensor"] = model(x, mode="tensor").numpy()
                out["aux_tensor"] = model.auxiliary_head(model.extract_feat(x)).numpy()
                # predict with padding to crop and a flip to undo, resized to a different ori_shape.
                samples = []
                for i, (flip, padding) in enumerate([(False, [0, 4, 0, 8]), (True, [0, 12, 0, 0])]):
                    s = SegDataSample()
                    s.set_metainfo(
                        dict(
                            ori_shape=(50, 30),
                            img_shape=(40 - padding[3], 52 - padding[1]),
                            pad_shape=hw,
                            padding_size=padding,
                            flip=flip,
                            flip_direction="horizontal",
                        )
                    )
                    samples.append(s)
                # MMSeg's head resizes to img_shape; give the padded size so the crop is exact.
                for s in samples:
                    s.set_metainfo(dict(img_shape=hw))
                res = model.predict(x, samples)
                out["predict.seg_logits"] = np.stack([r.seg_logits.data.numpy() for r in res])
                out["predict.pred"] = np.stack([r.pred_sem_seg.data.numpy() for r in res])
        if mode == "whole":
            model.train()
            gt = torch.from_numpy(np.random.default_rng(1).integers(0, 5, (2, 1, 40, 52)))
            gt[:, :, :5] = 255
            out["gt"] = gt.numpy()
            samples = []
            for i in range(2):
                s = SegDataSample(gt_sem_seg=PixelData(data=gt[i]))
                s.set_metainfo(dict(img_shape=hw, pad_shape=hw))
                samples.append(s)
            torch.manual_seed(0)
            model.decode_head.dropout = None  # deterministic: compare losses without dropout
            model.auxiliary_head.dropout = None
            losses = model.loss(x, samples)
            for k, v in losses.items():
                out[f"loss.{k}"] = v.detach().numpy()
    np.savez_compressed(HERE / "reference.npz", **out)


if __name__ == "__main__":
    main()
