"""Make mmseg_extra_transforms.npz: MMSeg 1.2.2 outputs of the extra transforms on tiny inputs.

Run in the reference env only (never imported by seglab or its tests):
    . /work/mmseg-ref/bin/activate
    python tests/data/transforms/make_reference.py tests/data/transforms/mmseg_extra_transforms.npz
Seeded cases rely on our transforms drawing numpy random numbers in MMSeg's order.
"""

import sys

import mmseg.datasets  # noqa: F401 - registers MMSeg's transforms
import numpy as np
from mmseg.datasets.transforms import transforms as T
from mmseg.registry import TRANSFORMS

rng = np.random.RandomState(0)
img = rng.randint(0, 256, (14, 11, 3)).astype(np.uint8)
seg = rng.randint(0, 4, (14, 11)).astype(np.uint8)
seg[2:4, 3:6] = 255
out = {"img": img, "seg": seg}


def res() -> dict:
    return {"img": img.copy(), "gt_seg_map": seg.copy(), "seg_fields": ["gt_seg_map"],
            "img_shape": img.shape[:2], "ori_shape": img.shape[:2]}


def put(name: str, r: dict) -> None:
    out[f"{name}_img"] = r["img"]
    out[f"{name}_seg"] = r["gt_seg_map"]


# Rotation: fixed angles (plain, auto_bound, custom centre), then a seeded random one.
put("rot", T.RandomRotate(prob=1.0, degree=(30, 30)).transform(res()))
put("rot_ab", T.RandomRotate(prob=1.0, degree=(-50, -50), auto_bound=True).transform(res()))
put("rot_c", T.RandomRotate(prob=1.0, degree=(17, 17), center=(2.0, 3.0), seg_pad_val=7).transform(res()))
np.random.seed(3)
put("rot_seed3", T.RandomRotate(prob=0.9, degree=40).transform(res()))

# CutOut, seeded.
np.random.seed(5)
put("cut_seed5", T.RandomCutOut(prob=1.0, n_holes=(2, 4), cutout_shape=[(3, 2), (2, 5)], fill_in=(1, 2, 3),
                                seg_fill_in=9).transform(res()))
np.random.seed(6)
put("cutr_seed6", T.RandomCutOut(prob=1.0, n_holes=3, cutout_ratio=(0.3, 0.2)).transform(res()))

# Resize family.
put("rtm", T.ResizeToMultiple(size_divisor=8).transform(res()))
sizes = []
for h, w in [(14, 11), (11, 14), (20, 100), (100, 20), (33, 33), (7, 50)]:
    for scale, max_size in [(16, 40), ((24, 12), 30), (8, 1000)]:
        r = T.ResizeShortestEdge(scale=scale, max_size=max_size).transform({"img": np.zeros((h, w, 3), np.uint8)})
        sizes.append([h, w, *r["img"].shape[:2]])
out["rse_sizes"] = np.array(sizes)
put("rse", T.ResizeShortestEdge(scale=20, max_size=40).transform(res()))
np.random.seed(7)
choice = TRANSFORMS.build({"type": "RandomChoiceResize", "scales": [(30, 20), (16, 16), (9, 40)], "keep_ratio": True})
picks = []
for _ in range(6):
    r = choice(res())
    picks.append([r["scale_idx"], *r["img"].shape[:2]])
out["rcr_seed7"] = np.array(picks)
out["segrescale_seg"] = T.SegRescale(scale_factor=0.5).transform(res())["gt_seg_map"]

# Intensity.
ramp = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, 2)
for gamma in (0.5, 2.2):
    out[f"gamma_{gamma}"] = T.AdjustGamma(gamma=gamma).transform({"img": ramp.copy()})["img"]
low_contrast = np.random.RandomState(1).randint(60, 120, (32, 24, 3)).astype(np.uint8)
out["clahe_in"] = low_contrast
out["clahe_out"] = T.CLAHE(clip_limit=2.0, tile_grid_size=(4, 4)).transform({"img": low_contrast.copy()})["img"]
out["rerange"] = T.Rerange(min_value=-1, max_value=3).transform({"img": img.copy()})["img"]
out["gray"] = T.RGB2Gray(out_channels=2, weights=(0.2, 0.3, 0.5)).transform({"img": img.copy()})["img"]

# Edges.
out["edge3"] = T.GenerateEdge(edge_width=3).transform(res())["gt_edge_map"]
out["edge1"] = T.GenerateEdge(edge_width=1).transform(res())["gt_edge_map"]

np.savez_compressed(sys.argv[1], **out)
print({k: v.shape for k, v in out.items()})
