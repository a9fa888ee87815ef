"""Regenerate reference.npz and keys.json from cases.json: MMSegmentation 1.2.2 backbone outputs.

Run in the reference environment only (never imported by seglab or its tests):
    . /work/mmseg-ref/bin/activate && python tests/data/backbones/make_reference.py
keys.json: ``{case: [[key, shape, is_float], ...]}`` for every case (state-dict order).
reference.npz, per case in ``cases``: ``<case>.out<j>.sample`` = ``out[:, ::cs, ::2, ::2]`` with the
channel step ``cs`` from ``sample_step`` below, and ``<case>.out<j>.chmean`` = per-channel spatial mean;
every weight from shared/parity/fill.py, input ``parity_input(input_shape)``, eval mode.
"""

import importlib.util
import json
import math
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


def sample_step(shape, max_sample):
    """Channel step so that out[:, ::step, ::2, ::2] holds at most max_sample values per image."""
    _, c, h, w = shape
    return max(1, math.ceil(c * math.ceil(h / 2) * math.ceil(w / 2) / max_sample))


def filled(model):
    sd = model.state_dict()
    return {k: torch.from_numpy(fill_mod.fill(k, tuple(v.shape), v.is_floating_point())) for k, v in sd.items()}


def main():
    spec_all = json.loads((HERE / "cases.json").read_text())
    x = torch.from_numpy(fill_mod.parity_input(tuple(spec_all["input_shape"])))
    keys, arrays = {}, {}
    for name, cfg in {**spec_all["cases"], **spec_all["keys_only"]}.items():
        torch.manual_seed(0)
        model = MODELS.build(dict(cfg))
        keys[name] = [[k, list(v.shape), v.is_floating_point()] for k, v in model.state_dict().items()]
        if name not in spec_all["cases"]:
            continue
        model.load_state_dict(filled(model), strict=True)
        model.eval()
        with torch.no_grad():
            outs = model(x)
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        for j, out in enumerate(outs):
            step = sample_step(out.shape, spec_all["max_sample"])
            arrays[f"{name}.out{j}.sample"] = out[:, ::step, ::2, ::2].numpy().astype(np.float32)
            arrays[f"{name}.out{j}.chmean"] = out.mean((2, 3)).numpy().astype(np.float32)
            arrays[f"{name}.out{j}.shape"] = np.array(out.shape, dtype=np.int64)
        print(name, [tuple(o.shape) for o in outs])
    (HERE / "keys.json").write_text(json.dumps(keys, separators=(",", ":")))
    np.savez_compressed(HERE / "reference.npz", **arrays)


if __name__ == "__main__":
    main()
