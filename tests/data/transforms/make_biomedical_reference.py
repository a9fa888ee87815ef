"""Make mmseg_biomedical3d.npz: MMSeg 1.2.2 outputs of the 3-D biomedical transforms on a tiny volume.

Run in the reference env only (never imported by seglab or its tests):
    . /work/mmseg-ref/bin/activate
    python tests/data/transforms/make_biomedical_reference.py tests/data/transforms/mmseg_biomedical3d.npz
Seeded cases rely on our transforms drawing numpy random numbers in MMSeg's order. BioMedical3DPad is
recorded on an image whose Y and X sizes are equal (MMSeg pads X by comparing with Y) and without a
label volume (MMSeg returns an empty one); RandomGamma only with per_channel=False (MMSeg raises otherwise).
"""

import sys

import mmseg.datasets  # noqa: F401 - registers MMSeg's transforms
import numpy as np
from mmseg.datasets.transforms import transforms as T

rng = np.random.RandomState(0)
img = rng.rand(2, 6, 7, 8).astype(np.float32) * 100
seg = np.zeros((6, 7, 8), np.float32)
seg[1:3, 2:5, 4:7] = 1
seg[4, 1:3, 0:2] = 2
out = {"img": img, "seg": seg}


def res() -> dict:
    return {"img": img.copy(), "gt_seg_map": seg.copy(), "img_shape": img.shape[1:], "img_path": "case.nii.gz"}


def put(name: str, r: dict, with_seg: bool = True) -> None:
    out[f"{name}_img"] = np.asarray(r["img"])
    if with_seg:
        out[f"{name}_seg"] = np.asarray(r["gt_seg_map"])


np.random.seed(1)
put("crop_fg_seed1", T.BioMedical3DRandomCrop(crop_shape=(4, 5, 3), keep_foreground=True).transform(res()))
np.random.seed(2)
put("crop_any_seed2", T.BioMedical3DRandomCrop(crop_shape=(3, 3, 3), keep_foreground=False).transform(res()))
flips = []
for seed in range(6):
    np.random.seed(seed)
    r = T.BioMedical3DRandomFlip(prob=0.5, axes=(0, 1, 2), swap_label_pairs=[(1, 2)]).transform(res())
    put(f"flip_seed{seed}", r)
    flips.append(r["do_flip"])
out["flip_do_flip"] = np.array(flips)
np.random.seed(4)
put("noise_seed4", T.BioMedicalGaussianNoise(prob=1.0, std=3.0).transform(res()), with_seg=False)
np.random.seed(5)
put("blur_seed5", T.BioMedicalGaussianBlur(sigma_range=(0.5, 1.5), prob=1.0, prob_per_channel=1.0).transform(res()),
    with_seg=False)
np.random.seed(6)
put("blur_shared_seed6", T.BioMedicalGaussianBlur(sigma_range=(0.7, 2.0), prob=1.0, prob_per_channel=0.5,
                                                  different_sigma_per_channel=False,
                                                  different_sigma_per_axis=False).transform(res()), with_seg=False)
np.random.seed(7)
put("gamma_retain_seed7", T.BioMedicalRandomGamma(prob=1.0, retain_stats=True).transform(res()), with_seg=False)
np.random.seed(8)
put("gamma_invert_seed8", T.BioMedicalRandomGamma(prob=1.0, gamma_range=(0.7, 1.5),
                                                  invert_image=True).transform(res()), with_seg=False)
square = rng.rand(2, 3, 5, 5).astype(np.float32)
out["pad_src"] = square
out["pad_img"] = T.BioMedical3DPad(pad_shape=(4, 6, 8), pad_val=-1.0).transform({"img": square.copy()})["img"]

np.savez_compressed(sys.argv[1], **out)
print("wrote", sys.argv[1], len(out), "arrays")
