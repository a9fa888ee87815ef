"""Record MMSeg 1.2.2's VPDDepthHead and SiLogLoss on fixed weights (a dev script, never imported by seglab).

Run by hand inside the MMSegmentation reference env:

    /work/mmseg-ref/bin/python tools/make_vpd_head_fixture.py [--out tests/data/depth/vpd_depth_head.npz]

Writes: ``keys`` (JSON: the state-dict ``[key, shape]`` list of the head with MMSeg's default arguments,
as in configs/vpd), and for a small head (``small_cfg``) filled with ../shared/parity/fill.py: its
four input maps ``x0..x3``, its eval-mode ``depth`` output, a ``target`` depth map and MMSeg's SiLog
``loss`` of the output against it. Then a small ``DepthEstimator`` (``estimator_cfg``: ResNetV1c + the
small head, filled the same way) predicts fill.py's ``parity_input((1, 3, 64, 96))`` (``ori_shape`` 40 x 60)
in ``whole`` and ``slide_flip`` modes: ``pred_whole`` and ``pred_slide_flip`` are its ``pred_depth_map``s.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SMALL = dict(in_channels=[16, 8, 8, 8], embed_dim=2, feature_dim=16, num_deconv_filters=(4, 4, 4), max_depth=10.0,
             fmap_border=(1, 1))
ESTIMATOR = dict(
    type="DepthEstimator", data_preprocessor=None,
    backbone=dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=16),
    decode_head=dict(type="VPDDepthHead", in_channels=[16, 32, 64, 128], embed_dim=2, feature_dim=16,
                     num_deconv_filters=(4, 4, 4), max_depth=10.0))
SHAPES = [(1, 16, 16, 16), (1, 8, 8, 8), (1, 8, 4, 4), (1, 8, 2, 2)]


def main() -> None:
    """Write the fixture."""
    import numpy as np
    import torch
    from mmseg.models.decode_heads.vpd_depth_head import VPDDepthHead
    from mmseg.models.losses import SiLogLoss

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/data/depth/vpd_depth_head.npz")
    parser.add_argument("--fill", default=os.path.join(HERE, "..", "..", "shared", "parity", "fill.py"))
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("parity_fill", args.fill)
    fill_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fill_mod)

    full = VPDDepthHead()
    keys = [[k, list(v.shape)] for k, v in full.state_dict().items()]
    head = VPDDepthHead(**SMALL).eval()
    state = {k: torch.from_numpy(fill_mod.fill(k, tuple(v.shape), v.is_floating_point()))
             for k, v in head.state_dict().items()}
    head.load_state_dict(state)
    rng = np.random.default_rng(0)
    maps = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    with torch.no_grad():
        depth = head([torch.from_numpy(m) for m in maps])
    target = rng.uniform(0.5, 9.5, depth.shape).astype(np.float32)
    target[:, :, :5] = 0  # no depth: left out by the loss
    loss = SiLogLoss()(depth, torch.from_numpy(target))
    from mmengine.config import ConfigDict
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    from mmseg.utils import register_all_modules

    register_all_modules()
    image = fill_mod.parity_input((1, 3, 64, 96))
    preds = {}
    for mode, test_cfg in (("whole", dict(mode="whole")),
                           ("slide_flip", dict(mode="slide_flip", crop_size=(64, 64), stride=(32, 32)))):
        model = MODELS.build(ConfigDict(dict(ESTIMATOR, test_cfg=test_cfg))).eval()
        model.load_state_dict({k: torch.from_numpy(fill_mod.fill(k, tuple(v.shape), v.is_floating_point()))
                               for k, v in model.state_dict().items()})
        sample = SegDataSample(metainfo=dict(ori_shape=(40, 60), img_shape=(64, 96), pad_shape=(64, 96),
                                             padding_size=[0, 0, 0, 0]))
        with torch.no_grad():
            preds[f"pred_{mode}"] = model.predict(torch.from_numpy(image), [sample])[0].pred_depth_map.data.numpy()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    np.savez_compressed(args.out, keys=json.dumps(keys), small_cfg=json.dumps(SMALL), depth=depth.numpy(),
                        target=target, loss=loss.numpy(), estimator_cfg=json.dumps(ESTIMATOR),
                        **preds, **{f"x{i}": m for i, m in enumerate(maps)})
    print("wrote", args.out, "depth", tuple(depth.shape), "loss", float(loss))


if __name__ == "__main__":
    main()
