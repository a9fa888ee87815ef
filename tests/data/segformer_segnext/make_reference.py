"""Regenerate reference.npz: MMSegmentation 1.2.2 outputs for the SegFormer/SegNeXt variants in cases.json.

Run in the reference environment only (never imported by seglab or its tests):
    . /work/mmseg-ref/bin/activate && python tests/data/segformer_segnext/make_reference.py
Weights come from ../shared/parity/fill.py, inputs from a seeded numpy generator. LightHamHead draws its
NMF bases from the global RNG, so its outputs are taken right after ``torch.manual_seed(seed)``; the
``*.rng_after_build`` entries are ``torch.rand(4)`` right after building the head from ``torch.manual_seed(0)``.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import torch
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("fill", HERE.parents[3] / "shared" / "parity" / "fill.py")
fill_mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fill_mod)
register_all_modules()
CASES = json.loads((HERE / "cases.json").read_text())


def inputs(shapes):
    rng = np.random.default_rng(11)
    return [torch.from_numpy(rng.standard_normal(s).astype(np.float32)) for s in shapes]


def filled(cfg):
    model = MODELS.build(dict(cfg))
    state = {k: torch.from_numpy(fill_mod.fill(k, tuple(v.shape), v.is_floating_point()))
             for k, v in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


def main():
    out = {}
    for name in ("mit_variant", "mscan_variant"):
        case = CASES[name]
        with torch.no_grad():
            feats = filled(case["cfg"])(inputs([case["input"]])[0])
        for i, f in enumerate(feats):
            out[f"{name}.out{i}"] = f.numpy()
    case = CASES["segformer_head"]
    with torch.no_grad():
        out["segformer_head.logits"] = filled(case["cfg"])(inputs(case["inputs"])).numpy()
    case = CASES["ham_head"]
    head = filled(case["cfg"])
    # the first level is not read (in_index starts at 1), so its batch size does not matter
    feats = inputs(case["inputs"])
    with torch.no_grad():
        torch.manual_seed(case["seed"])
        out["ham_head.eval"] = head(feats).numpy()
        head.train()
        torch.manual_seed(case["seed"])
        out["ham_head.train"] = head(feats).numpy()
    torch.manual_seed(0)
    MODELS.build(dict(case["cfg"]))
    out["ham_head.rng_after_build"] = torch.rand(4).numpy()
    np.savez_compressed(HERE / "reference.npz", **out)
    print({k: v.shape for k, v in out.items()})


if __name__ == "__main__":
    main()
