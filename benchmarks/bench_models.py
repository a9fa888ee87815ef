"""Speed of seglab side by side with MMSegmentation 1.x in one process, reported as ratios.

Run by hand (not part of the test suite), in an environment where both import, e.g.::

    . /work/mmseg-ref/bin/activate && pip install --no-deps -e .
    python benchmarks/bench_models.py --models fcn_r18 pspnet_r50 --size 256 --repeats 10 \\
        [--device cuda] [--out benchmarks/results/run.json]

For every model both libraries build the same model dict, MMSeg loads seglab's ``state_dict``
with ``strict=True`` (so the run re-checks checkpoint compatibility), and each repeat times
seglab and MMSeg back to back, alternating which goes first, so that load changes on a shared
machine hit both. Reported: medians, the seglab/MMSeg time ratio (< 1 means seglab is faster)
and the largest output difference. Also timed: the CamVid training pipeline on real images and
``IoUMetric`` on random predictions. seglab never imports MMSegmentation; only this script does.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import gc
import json
import os
import os.path as osp
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

# Sibling modules: this file runs as a script, so its folder is on sys.path.
from bench_data import TRAIN_PIPELINE, bench_metric, bench_pipeline, camvid_infos, pipeline_libraries
from bench_pairs import (
    DEFAULT_MODELS,
    NO_IGNORED_LABELS,
    REPO,
    build_pair,
    import_libraries,
    max_abs_diff,
    reference_flops,
    samples,
)
from bench_timing import (
    add_peak_shares,
    interleaved,
    matmul_peak_flops,
    summarize,
    use_isolated_processes,
    use_process_clock,
)

# The optim_wrapper of each model's MMSeg training config (train_step part); SGD at 0.01 for the others.
TRAIN_OPTIM: dict[str, dict] = {
    "segformer_b0": dict(optimizer=dict(type="AdamW", lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
                         paramwise_cfg=dict(custom_keys={"pos_block": dict(decay_mult=0.0),
                                                         "norm": dict(decay_mult=0.0), "head": dict(lr_mult=10.0)})),
    "bisenetv2": dict(optimizer=dict(type="SGD", lr=0.05, momentum=0.9, weight_decay=0.0005)),
}
DEFAULT_OPTIM = dict(optimizer=dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=0.0005))
# MMSeg's data_preprocessor of its Cityscapes/ADE20K configs (size: the train-step crop).
DATA_PREPROCESSOR = dict(type="SegDataPreProcessor", mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                         bgr_to_rgb=True, pad_val=0, seg_pad_val=255)
CAMVID = osp.join(REPO, "..", "shared", "data", "camvid")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (``--help`` works without MMSegmentation installed)."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--models",
        nargs="+",
        default=DEFAULT_MODELS,
        choices=DEFAULT_MODELS,
        metavar="NAME",
        help=f"models to time (default: all of {', '.join(DEFAULT_MODELS)})",
    )
    p.add_argument("--size", type=int, nargs="+", default=[256], metavar="PX",
                   help="inference input size: H (square) or H W")
    p.add_argument("--train-size", type=int, nargs="+", default=None, metavar="PX",
                   help="training-step input size, H or H W (default: --size)")
    p.add_argument("--batch", type=int, default=1, help="inference batch size")
    p.add_argument("--train-batch", type=int, default=2, help="training-step batch size")
    p.add_argument("--repeats", type=int, default=10, help="timed repeats per measurement (median reported)")
    p.add_argument(
        "--train-repeats", type=int, default=None, help="timed repeats of the training step (default: --repeats)"
    )
    p.add_argument("--warmup", type=int, default=1, help="untimed runs of each library before timing")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument(
        "--skip", nargs="*", default=[], choices=["infer", "train", "train_step", "pipeline", "metric"],
        help="parts to leave out"
    )
    p.add_argument("--train-step-data", choices=["random", "camvid"], default="random",
                   help="train_step batches: random uint8 images and labels made once, or each library's CamVid "
                        "training pipeline run on real images inside the timed step (data loading in the main "
                        "process, as with num_workers=0) (default: random)")
    p.add_argument("--pipeline-images", type=int, default=50, help="CamVid train images per pipeline pass")
    p.add_argument("--opencv-threads", type=int, default=None,
                   help="cv2.setNumThreads for the run (default: OpenCV's choice); the data-loader workers of "
                        "both libraries use 0, no extra threads (env_cfg.mp_cfg.opencv_num_threads)")
    p.add_argument("--camvid", default=CAMVID, help="CamVid root (train/, trainannot/)")
    p.add_argument("--metric-samples", type=int, default=20, help="random predictions per metric pass")
    p.add_argument("--metric-shape", type=int, nargs=2, default=[512, 512], metavar=("H", "W"),
                   help="size of each random prediction for the metric (default: 512 512)")
    p.add_argument("--seglab-infer", choices=["default", "plain", "compiled"], default="default",
                   help="seglab inference path: 'default' = what init_model picks (BatchNorm folded into the "
                        "convs, fuse_conv_bn; large depth-wise convs by channel blocks, blocked_depthwise; large "
                        "3x3 convs by Winograd on the CPU, winograd_conv), "
                        "'plain' = the stock model, 'compiled' = 'default' with the forward compiled by "
                        "torch.compile (Inductor, weights frozen as constants: compile=dict(options=dict("
                        "freezing=True))), compiled before the timing (default: default)")
    p.add_argument("--retain-heap", choices=["on", "off"], default="on",
                   help="'on' applies seglab's CPU default retain_heap (glibc keeps freed memory for the next "
                        "tensors); it is process-wide, so without --isolate MMSeg's timings get it too (default: on)")
    p.add_argument("--isolate", action="store_true",
                   help="CPU: time each library in its own forked process (same models, same interleaving), so "
                        "that each runs with its own process-wide settings, as its users get it: seglab's with "
                        "retain_heap (per --retain-heap), MMSeg's with glibc's defaults")
    p.add_argument("--infer-mode", choices=["tensor", "predict"], default="tensor",
                   help="time model(x, mode='tensor') (the network) or mode='predict' (plus resizing to the "
                        "original shape and argmax) (default: tensor)")
    p.add_argument("--clock", choices=["wall", "process"], default="wall",
                   help="'process' times CPU seconds of this process (with --threads 1 on a CPU: the work done, "
                        "robust to other jobs' load; never on a GPU) (default: wall)")
    p.add_argument("--out", default=None, help="write all numbers to this JSON file")
    return p.parse_args(argv)


def hw(size: list[int]) -> tuple[int, int]:
    """(H, W) from a ``--size`` value: [H] (square) or [H, W]."""
    if len(size) not in (1, 2):
        raise SystemExit(f"--size/--train-size take H or H W, got {size}")
    return (size[0], size[-1])


def inference_path(model: Any, path: str, sl: dict) -> Any:
    """The seglab model ``--seglab-infer path`` times: the stock ``model``, a copy with init_model's CPU paths
    (``default``; ``model`` itself stays plain for the training rows) or, for ``compiled``, that copy with its
    forward compiled (Inductor, weights frozen), which its first call (the check, before any timing) compiles."""
    if path == "plain":
        return model
    fast = sl["winograd_conv"](sl["blocked_depthwise"](sl["fuse_conv_bn"](model)), inplace=True)
    if path == "compiled":
        fast = sl["compile_forward"](fast, dict(options=dict(freezing=True)))
    return fast


def bench_model(name: str, args: argparse.Namespace, mm: dict, sl: dict, peak: float) -> dict:
    """Inference and training-step timings of one model in both libraries, each also as a share of ``peak``
    (FLOP/s) for MMSeg's FLOP count."""
    import torch

    ours, ref, cfg = build_pair(name, mm, sl, args.device)
    res: dict[str, Any] = {"params": sum(p.numel() for p in ours.parameters()), "state_dict_strict_load": "ok"}
    num_classes = cfg["decode_head"]["num_classes"]
    if "infer" not in args.skip:
        ours.eval(), ref.eval()
        h, w = hw(args.size)
        fast = inference_path(ours, args.seglab_infer, sl)
        x = torch.randn(args.batch, 3, h, w, generator=torch.Generator().manual_seed(3)).to(args.device)
        if args.infer_mode == "predict":
            from mmengine.config import ConfigDict

            ref.test_cfg = ConfigDict(ref.test_cfg or {"mode": "whole"})  # MMSeg reads test_cfg.mode
            p_ours = samples(sl, args.batch, (h, w), num_classes, args.device, mm=False)
            p_ref = samples(mm, args.batch, (h, w), num_classes, args.device, mm=True)

            # Timed: the predict call alone. Stacking the logits for the check is not part of it (a copy
            # whose cost depends on the logits' layout, channels-last for seglab on the CPU).
            def run_ours() -> Any:
                return fast(x, p_ours, mode="predict")

            def run_ref() -> Any:
                return ref(x, p_ref, mode="predict")
        else:

            def run_ours() -> Any:
                return fast(x, mode="tensor")

            def run_ref() -> Any:
                return ref(x, mode="tensor")

        def logits(out: Any) -> Any:
            return torch.stack([s.seg_logits.data for s in out]) if args.infer_mode == "predict" else out

        with torch.no_grad():
            diff = max_abs_diff(logits(run_ours()), logits(run_ref()))
            t = interleaved(
                {"seglab": run_ours, "mmseg": run_ref},
                args.repeats,
                args.warmup,
                args.device,
            )
        res["infer"] = dict(summarize(t, args.batch), input=[args.batch, 3, h, w], max_abs_diff=diff,
                            seglab_path=args.seglab_infer, folded_conv_bn_pairs=sl["folded_pairs"](fast),
                            mode=args.infer_mode)
        # The network's FLOPs (predict's resize and argmax are not counted).
        add_peak_shares(res["infer"], reference_flops(ref, x), peak)
        del fast
    if "train" not in args.skip:
        size = hw(args.train_size or args.size)
        ours.train(), ref.train()
        x = torch.randn(args.train_batch, 3, *size, generator=torch.Generator().manual_seed(4)).to(args.device)
        ignored = name not in NO_IGNORED_LABELS
        s_ours = samples(sl, args.train_batch, size, num_classes, args.device, mm=False, ignored=ignored)
        s_ref = samples(mm, args.train_batch, size, num_classes, args.device, mm=True, ignored=ignored)

        def step(model: Any, data_samples: list) -> float:
            torch.manual_seed(5)  # same dropout masks in both, so the losses are comparable
            losses = model(x, data_samples, mode="loss")
            loss = sum(v for k, v in losses.items() if "loss" in k)
            model.zero_grad(set_to_none=True)
            loss.backward()
            return loss.item()

        # Compare losses without dropout: implementations may draw their dropout masks in a
        # different order (DAHead classifies three feature maps), which changes the loss but
        # not the cost.
        drops = [
            m for model in (ours, ref) for m in model.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)
        ]
        saved = [m.p for m in drops]
        for m in drops:
            m.p = 0.0
        loss_diff = abs(step(ours, s_ours) - step(ref, s_ref))
        for m, p in zip(drops, saved):
            m.p = p
        t = interleaved(
            {"seglab": lambda: step(ours, s_ours), "mmseg": lambda: step(ref, s_ref)},
            args.train_repeats or args.repeats,
            args.warmup,
            args.device,
        )
        res["train"] = add_peak_shares(
            dict(summarize(t, args.train_batch), input=[args.train_batch, 3, *size], loss_abs_diff=loss_diff),
            reference_flops(ref, x, s_ref), peak)
    if "train_step" not in args.skip:
        res["train_step"] = bench_train_step(name, args, mm, sl, ours, ref, num_classes, peak)
    return res


def _max_param_diff(a: Any, b: Any) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


def bench_train_step(name: str, args: argparse.Namespace, mm: dict, sl: dict, ours: Any, ref: Any,
                     num_classes: int, peak: float) -> dict:
    """The whole training iteration through each library's own code: data preprocessor (uint8 -> normalised
    float batch), forward, losses, backward and the optimizer step of the model's MMSeg optim_wrapper.

    seglab runs ``seglab.engine.loops.run_step`` with ``build_optim_wrapper`` (its fast defaults: the fused
    optimizer, and Winograd 3x3 convolutions as the Runner sets them up unless ``--seglab-infer plain``),
    MMSeg ``model.train_step`` with MMEngine's ``build_optim_wrapper``; ``seglab_plain`` is seglab with
    ``optimizer.fused=False`` (torch's per-parameter loop, as in MMSeg) and direct convolutions. With
    ``--train-step-data camvid`` each step also runs the library's CamVid training pipeline and collate.
    """
    import numpy as np
    import torch

    size = hw(args.train_size or args.size)
    plain = copy.deepcopy(ours)
    if args.seglab_infer == "default":  # what Runner.from_cfg builds (winograd_conv = True)
        sl["winograd_conv"](ours, inplace=True, training=True)
    for model, lib in ((ours, sl), (plain, sl), (ref, mm)):
        model.train()
        model.data_preprocessor = lib["MODELS"].build(dict(DATA_PREPROCESSOR, size=size)).to(args.device)
    optim_cfg = TRAIN_OPTIM.get(name, DEFAULT_OPTIM)
    plain_cfg = dict(optim_cfg, optimizer=dict(optim_cfg["optimizer"], fused=False))
    wrappers = {"seglab": sl["build_optim_wrapper"](ours, copy.deepcopy(optim_cfg)),
                "seglab_plain": sl["build_optim_wrapper"](plain, copy.deepcopy(plain_cfg)),
                "mmseg": mm["build_optim_wrapper"](ref, dict(type="OptimWrapper", **copy.deepcopy(optim_cfg)))}
    models = {"seglab": ours, "seglab_plain": plain, "mmseg": ref}
    libs = {"seglab": sl, "seglab_plain": sl, "mmseg": mm}
    g = torch.Generator().manual_seed(8)
    images = [torch.randint(0, 256, (3, *size), dtype=torch.uint8, generator=g) for _ in range(args.train_batch)]
    ignored = name not in NO_IGNORED_LABELS

    def random_batch(key: str) -> dict:
        lib = libs[key]
        data = samples(lib, args.train_batch, size, num_classes, "cpu", mm=key == "mmseg", ignored=ignored)
        return {"inputs": [img.clone() for img in images], "data_samples": data}

    def one_step(key: str, batch: dict) -> dict:
        torch.manual_seed(5)  # the same dropout masks in every library
        if key == "mmseg":
            return ref.train_step(batch, optim_wrapper=wrappers[key])
        return sl["run_step"](models[key], batch, wrappers[key])

    # Check: one step on the same batch gives the same loss and the same updated weights (dropout off).
    drops = [m for model in models.values() for m in model.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)]
    saved = [m.p for m in drops]
    for m in drops:
        m.p = 0.0
    logs = {key: one_step(key, random_batch(key)) for key in models}
    loss_diff = abs(float(logs["seglab"]["loss"]) - float(torch.as_tensor(logs["mmseg"]["loss"]).detach()))
    param_diff, plain_diff = _max_param_diff(ours, ref), _max_param_diff(plain, ref)
    for m, p in zip(drops, saved):
        m.p = p

    if args.train_step_data == "camvid":
        infos = camvid_infos(args, max(args.train_batch * 4, 8))
        crop = [dict(t, crop_size=size) if t["type"] == "RandomCrop" else dict(t) for t in TRAIN_PIPELINE]
        pipes = {"seglab": sl["Compose"]([sl["TRANSFORMS"].build(dict(t)) for t in crop]),
                 "mmseg": mm["Compose"]([mm["TRANSFORMS"].build(dict(t)) for t in crop])}
        pipes["seglab_plain"] = pipes["seglab"]
        counters = dict.fromkeys(models, 0)

        def make_batch(key: str) -> dict:
            step = counters[key]
            counters[key] += 1
            random.seed(step), np.random.seed(step)  # the same draws per step in every library
            items = [pipes[key](copy.deepcopy(infos[(step * args.train_batch + i) % len(infos)]))
                     for i in range(args.train_batch)]
            return libs[key]["collate"](items)
    else:
        make_batch = random_batch

    def timed(key: str) -> Callable[[], None]:
        def go() -> None:
            one_step(key, make_batch(key))

        return go

    t = interleaved({key: timed(key) for key in models}, args.train_repeats or args.repeats, args.warmup, args.device)
    out = summarize(t, args.train_batch)
    # Forward + backward FLOPs of MMSeg's model on a float batch of this size (the pipeline, the data
    # preprocessor and the optimizer step add time but no counted FLOPs).
    x = torch.randn(args.train_batch, 3, *size, generator=torch.Generator().manual_seed(4)).to(args.device)
    add_peak_shares(out, reference_flops(ref, x, samples(mm, args.train_batch, size, num_classes, args.device,
                                                         mm=True, ignored=ignored)), peak)
    out["ratio_seglab_plain_over_mmseg"] = round(statistics.median(t["seglab_plain"]) / statistics.median(t["mmseg"]), 3)
    out["seglab_winograd_convs"] = sl["winograd_convs"](ours)
    # The optimizer step alone (the part the fused default changes), on the same random gradients.
    for model in models.values():
        g = torch.Generator().manual_seed(9)
        for p in model.parameters():
            p.grad = 1e-3 * torch.randn(p.shape, generator=g).to(p.device)
    t_opt = interleaved({key: wrappers[key].step for key in models}, 3 * (args.train_repeats or args.repeats),
                        args.warmup, args.device)
    opt = summarize(t_opt)
    opt["ratio_seglab_plain_over_mmseg"] = round(statistics.median(t_opt["seglab_plain"]) / statistics.median(t_opt["mmseg"]), 3)
    for model in models.values():
        model.zero_grad(set_to_none=True)
    impl = wrappers["seglab"].optimizer.param_groups[0]
    return dict(out, optimizer_step=opt, input=[args.train_batch, 3, *size], data=args.train_step_data,
                optim_wrapper=optim_cfg,
                seglab_optimizer="fused" if impl.get("fused") else ("foreach" if impl.get("foreach") else "for-loop"),
                loss_abs_diff=loss_diff, param_max_abs_diff_after_step=param_diff,
                param_max_abs_diff_after_step_fused_false=plain_diff)


# ------------------------------------------------------------------------------------------ main
def environment(args: argparse.Namespace, mm: dict, sl: dict) -> dict:
    """What the numbers were measured on."""
    import torch

    dev = torch.cuda.get_device_name(torch.device(args.device)) if torch.device(args.device).type == "cuda" else "cpu"
    return {
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "mmseg": mm["version"],
        "seglab": sl["version"],
        "device": args.device,
        "device_name": dev,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        **pipeline_libraries(),
    }


def print_table(report: dict) -> None:
    """Ratios as a Markdown table (paste into benchmarks/README.md)."""
    print(f"\nfp32 matmul peak {report.get('matmul_peak_gflop_per_s', float('nan')):.1f} GFLOP/s (same process); share "
          "of peak: MMSeg's FLOPs of the row / each library's median time / that peak")
    print("\n| benchmark | seglab | MMSeg | seglab/MMSeg time | share of peak seglab / MMSeg | check |")
    print("|---|---:|---:|---:|---:|---|")
    for name, r in report["models"].items():
        for part, check in (("infer", "max_abs_diff"), ("train", "loss_abs_diff")):
            if part in r:
                p = r[part]
                shape = "x".join(map(str, p["input"]))
                print(
                    f"| {name} {part} {shape} | {p['seglab_ms']:.1f} ms | {p['mmseg_ms']:.1f} ms | "
                    f"{p['ratio_seglab_over_mmseg']:.2f} | {shares(p)} | {check} {p[check]:.1e} |"
                )
        if "train_step" in r:
            p = r["train_step"]
            shape = "x".join(map(str, p["input"]))
            check = f"loss_abs_diff {p['loss_abs_diff']:.1e}, weights {p['param_max_abs_diff_after_step']:.1e}"
            print(f"| {name} train_step {shape} ({p['data']}, {p['seglab_optimizer']}) | {p['seglab_ms']:.1f} ms | "
                  f"{p['mmseg_ms']:.1f} ms | {p['ratio_seglab_over_mmseg']:.2f} | {shares(p)} | {check} |")
            print(f"| {name} train_step {shape} ({p['data']}, fused=False) | {p['seglab_plain_ms']:.1f} ms | "
                  f"{p['mmseg_ms']:.1f} ms | {p['ratio_seglab_plain_over_mmseg']:.2f} | {shares(p, 'seglab_plain')} | "
                  f"weights {p['param_max_abs_diff_after_step_fused_false']:.1e} |")
            o = p["optimizer_step"]
            print(f"| {name} optimizer step only ({p['seglab_optimizer']} / fused=False) | {o['seglab_ms']:.1f} / "
                  f"{o['seglab_plain_ms']:.1f} ms | {o['mmseg_ms']:.1f} ms | {o['ratio_seglab_over_mmseg']:.2f} / "
                  f"{o['ratio_seglab_plain_over_mmseg']:.2f} | no matmul FLOPs | |")
    for part, check in (("pipeline", None), ("metric", "max_abs_metric_diff")):
        if part in report:
            p = report[part]
            print(
                f"| {part} | {p['seglab_items_per_s']:.1f} it/s | {p['mmseg_items_per_s']:.1f} it/s | "
                f"{p['ratio_seglab_over_mmseg']:.2f} | no matmul FLOPs | {f'{check} {p[check]:.1e}' if check else ''} |"
            )


def shares(p: dict, ours: str = "seglab") -> str:
    """'61% / 33%': a row's shares of the matmul peak (seglab's ``ours`` timing / MMSeg), or '' without them."""
    share = p.get("share_of_peak", {})
    if ours not in share or "mmseg" not in share:
        return ""
    return f"{100 * share[ours]:.0f}% / {100 * share['mmseg']:.0f}%"


def _library_defaults(name: str, args: argparse.Namespace) -> None:
    """Process-wide settings of the library timed as ``name``: seglab's CPU runs apply retain_heap."""
    if name.startswith("seglab") and args.retain_heap == "on":
        from seglab.engine.allocator import retain_freed_memory

        print(f"retain_heap for {name}: {'applied' if retain_freed_memory() else 'not available here'}", flush=True)


def configure_timing(args: argparse.Namespace) -> None:
    """Apply ``--isolate``, ``--retain-heap`` and ``--clock`` to the timing helpers and this process."""
    cpu = args.device.split(":")[0] == "cpu"
    if args.isolate:
        if not cpu:
            sys.exit("--isolate forks the timed processes; it is for the CPU")
        use_isolated_processes(lambda name: _library_defaults(name, args))
    elif args.retain_heap == "on" and cpu:
        _library_defaults("seglab", args)
    if args.clock == "process":
        if not cpu:
            sys.exit("--clock process measures CPU time; use the wall clock on a GPU")
        use_process_clock()


def main(argv: list[str] | None = None) -> dict:
    """Run the selected benchmarks and return (and optionally write) the report."""
    args = parse_args(argv)
    mm, sl = import_libraries()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.opencv_threads is not None:
        import cv2

        cv2.setNumThreads(args.opencv_threads)
    configure_timing(args)
    # Measured here, on the clock and thread count the rows are timed with.
    peak = matmul_peak_flops(args.device)
    report: dict[str, Any] = {"environment": environment(args, mm, sl), "args": vars(args),
                              "matmul_peak_gflop_per_s": round(peak / 1e9, 1), "models": {}}
    t_start = time.perf_counter()
    for name in args.models:
        if {"infer", "train", "train_step"} <= set(args.skip):
            break
        t0 = time.perf_counter()
        report["models"][name] = bench_model(name, args, mm, sl, peak)
        gc.collect()  # free the previous pair of models before building the next
        print(f"{name}: {json.dumps(report['models'][name])} ({time.perf_counter() - t0:.0f} s)", flush=True)
    if "pipeline" not in args.skip:
        report["pipeline"] = bench_pipeline(args, mm, sl)
        print(f"pipeline: {json.dumps(report['pipeline'])}", flush=True)
    if "metric" not in args.skip:
        report["metric"] = bench_metric(args, mm, sl)
        print(f"metric: {json.dumps(report['metric'])}", flush=True)
    report["total_s"] = round(time.perf_counter() - t_start, 1)
    print_table(report)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
        print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
