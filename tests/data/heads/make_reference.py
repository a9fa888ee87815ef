"""Regenerate reference.npz from cases.json: MMSegmentation 1.2.2 outputs of each head/neck case.

Run in the reference environment only (never imported by seglab or its tests):
    . /work/mmseg-ref/bin/activate && python tests/data/heads/make_reference.py
Per case: ``<name>.keys`` ("key:[shape]" lines of the state dict, in order) and ``<name>.out<j>``
(eval-mode outputs with every weight from ../shared/parity/fill.py, inputs drawn as in
reference_cases.inputs()).

(Reconstructed by the attention-heads helper after it overwrote this file by mistake; the format
follows reference_cases.py.)
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


def main():
    cases = json.loads((HERE / "cases.json").read_text())
    arrays = {}
    for name, case in cases.items():
        kwargs = dict(case["kwargs"])
        if case["type"] == "JPU":  # MMSeg's JPU asserts tuples where JSON gives lists
            kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
        model = MODELS.build(dict(type=case["type"], **kwargs))
        sd = model.state_dict()
        arrays[f"{name}.keys"] = np.array("\n".join(f"{k}:{list(v.shape)}" for k, v in sd.items()))
        model.load_state_dict({k: torch.from_numpy(fill_mod.fill(k, tuple(v.shape), v.is_floating_point()))
                               for k, v in sd.items()}, strict=True)
        model.eval()
        rng = np.random.default_rng(case["seed"])
        feats = [torch.from_numpy(rng.standard_normal(s).astype(np.float32)) for s in case["input_shapes"]]
        with torch.no_grad():
            outs = model(feats)
        outs = [outs] if isinstance(outs, torch.Tensor) else list(outs)
        for j, o in enumerate(outs):
            arrays[f"{name}.out{j}"] = o.numpy()
        print(name, [tuple(o.shape) for o in outs])
    np.savez_compressed(HERE / "reference.npz", **arrays)


if __name__ == "__main__":
    main()
