"""``seglab`` command line: ``train``, ``test``, ``infer``, ``demo`` (MMSeg's tools/train.py and tools/test.py flags)."""
from __future__ import annotations

import argparse
import logging
import os.path as osp
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

_DEMO_CONFIG = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), "configs", "demo", "fcn_demo_shapes.py")


def _load_cfg(path: str, work_dir: str | None, options: Sequence[str] | None) -> Any:
    from seglab.config import Config, parse_cfg_options

    if not osp.isfile(path):
        raise SystemExit(f"seglab: config file not found: {path}")
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options if isinstance(options, dict) else parse_cfg_options(options))
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get("work_dir") is None:
        cfg.work_dir = osp.join("work_dirs", osp.splitext(osp.basename(path))[0])
    return cfg


def _print_table(runner: Any, metrics: dict) -> None:
    """Summary metrics and the per-class table of the test evaluator."""
    from seglab.evaluation.metrics.iou_metric import format_cell, format_table

    print("\n" + format_table(list(metrics), [[f"{v:.2f}" for v in metrics.values()]]))
    for metric in getattr(runner.test_loop.evaluator, "metrics", []):
        per_class = getattr(metric, "per_class_results", None)
        if per_class:  # the columns of the metrics asked for (mIoU -> IoU, mDice -> Dice, ...)
            columns = [c for c in per_class if c != "Class" and f"m{c}" in metrics]
            rows = [[name] + [format_cell(per_class[c][i]) for c in columns]
                    for i, name in enumerate(per_class["Class"])]
            print(format_table(["Class", *columns], rows))
        note = getattr(metric, "absent_note", None)
        if note:  # a mean over fewer classes than the table shows must say so
            print(note)


def _close_dist(args: argparse.Namespace) -> None:
    if args.launcher != "none":
        from seglab.engine.distributed import destroy_dist

        destroy_dist()


def _train(args: argparse.Namespace) -> int:
    from seglab.engine import Runner

    cfg = _load_cfg(args.config, args.work_dir, args.cfg_options)
    if args.amp:
        wrapper = cfg.optim_wrapper.get("type", "OptimWrapper")
        if wrapper == "AmpOptimWrapper":
            print("seglab: AMP is already enabled in the config")
        else:
            cfg.optim_wrapper["type"] = "AmpOptimWrapper"
            cfg.optim_wrapper.setdefault("loss_scale", "dynamic")
    if args.resume is not None:
        cfg.resume = True
        if args.resume != "auto":
            cfg.load_from = args.resume
    cfg.launcher = args.launcher
    runner = Runner.from_cfg(cfg, device=args.device)
    runner.train()
    _close_dist(args)  # only after success: a failed rank must exit so torchrun stops the others
    return 0


def _test(args: argparse.Namespace) -> int:
    from seglab.engine import Runner
    from seglab.models.weight_init import without_pretrained

    cfg = _load_cfg(args.config, args.work_dir, args.cfg_options)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    cfg.model = without_pretrained(cfg.model)  # every weight comes from the checkpoint: no ImageNet download
    cfg.launcher = args.launcher
    if args.show_dir:
        hooks = cfg.setdefault("default_hooks", {})
        vis = dict(hooks.get("visualization") or dict(type="SegVisualizationHook"))
        vis.update(draw=True, interval=1)
        hooks["visualization"] = vis
        visualizer = dict(cfg.get("visualizer") or dict(type="SegLocalVisualizer", vis_backends=[dict(type="LocalVisBackend")]))
        visualizer["save_dir"] = args.show_dir
        cfg.visualizer = visualizer
    if args.tta:
        _use_tta(cfg)
    if args.out:
        _write_predictions_to(cfg, args.out)
    runner = Runner.from_cfg(cfg, device=args.device)
    metrics = runner.test()
    _close_dist(args)
    if runner.rank == 0:
        _print_table(runner, metrics)
    return 0


def _write_predictions_to(cfg: Any, out_dir: str) -> None:
    """MMSeg's ``tools/test.py --out``: the test evaluator's IoUMetric / CityscapesMetric write their PNGs to ``out_dir``."""
    from seglab.registry import ConfigError

    evaluator = cfg.get("test_evaluator")
    metrics = evaluator if isinstance(evaluator, list) else [evaluator]
    kinds = ("IoUMetric", "CityscapesMetric")
    writers = [m for m in metrics if isinstance(m, dict) and str(m.get("type", "")).endswith(kinds)]
    if not writers:
        raise ConfigError("--out needs an IoUMetric or CityscapesMetric in test_evaluator (it writes the prediction PNGs)")
    for metric in writers:
        metric["output_dir"] = out_dir
        if str(metric.get("type", "")).endswith("CityscapesMetric"):
            metric["keep_results"] = True  # MMSeg's test.py --out: the labelId PNGs in the submission format stay


def _use_tta(cfg: Any) -> None:
    """Swap in ``tta_pipeline`` and wrap the model in ``tta_model`` (MMSeg's ``tools/test.py --tta``)."""
    from seglab.registry import ConfigError

    if not cfg.get("tta_pipeline") or not cfg.get("tta_model"):
        raise ConfigError("--tta needs 'tta_pipeline' and 'tta_model' in the config "
                          "(e.g. tta_model = dict(type='SegTTAModel') and a TestTimeAug pipeline)")
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    tta_model = dict(cfg.tta_model)
    tta_model["module"] = cfg.model
    cfg.model = tta_model


def _native_bf16_cpu() -> bool:
    """Whether this CPU has bfloat16 dot-product instructions (AVX512-BF16 or AMX), where bf16 autocast pays."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private in torch.cpu: absent means no
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def _demo(args: argparse.Namespace) -> int:
    import cv2
    import torch

    from seglab.engine import Runner
    from seglab.tools.thread_choice import ThreadChoiceHook, thread_candidates
    from seglab.visualization import contact_sheet

    start = time.perf_counter()
    if args.threads != "auto" and args.threads < 1:
        raise SystemExit("seglab demo: --threads must be >= 1 or 'auto'")
    # On an idle 2-core machine two threads run an iteration ~1.7x faster; on a busy one a second
    # OpenMP thread spins for a descheduled peer (measured 0.18 s vs 5 s per iteration). 'auto' times both.
    choice = None
    on_cpu = (args.device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cpu")
    if args.threads != "auto":
        torch.set_num_threads(args.threads)
    elif on_cpu and len(thread_candidates(torch.get_num_threads())) > 1:
        choice = ThreadChoiceHook(thread_candidates(torch.get_num_threads()))
    cfg = _load_cfg(_DEMO_CONFIG, args.work_dir, args.cfg_options)
    if args.data_root:
        for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
            cfg[key]["dataset"]["data_root"] = args.data_root
    # bf16 autocast trains the demo ~1.6x faster per iteration on a CPU with bf16 instructions (measured
    # 0.13 s vs 0.21 s, mIoU 88.7 vs 89.1); without them bf16 is emulated and slower, so 'auto' checks.
    precision = args.precision
    if precision == "auto":
        precision = "bf16" if on_cpu and _native_bf16_cpu() else "fp32"
    wrapper = cfg.optim_wrapper.get("type")
    if wrapper != "OptimWrapper":  # another wrapper given with --cfg-options decides the precision
        if args.precision != "auto":
            raise SystemExit(f"seglab demo: --precision {args.precision} needs the demo's OptimWrapper, but "
                             f"optim_wrapper.type is {wrapper!r}; drop one of the two")
        precision = str(wrapper)
    elif precision == "bf16":
        cfg.optim_wrapper = dict(cfg.optim_wrapper, type="AmpOptimWrapper", dtype="bfloat16")
    why = "auto: bf16 where the CPU has bf16 instructions" if args.precision == "auto" else "--precision"
    print(f"seglab demo: training {osp.relpath(_DEMO_CONFIG)} into {cfg.work_dir} in {precision} ({why}; "
          "the dataset is generated on first use)")
    runner = Runner.from_cfg(cfg, device=args.device)
    if choice is not None:
        runner.register_hook(choice)
    runner.train()
    print("seglab demo: evaluating on the demo validation set")
    runner.load_from = None  # test the model just trained
    metrics = runner.test()
    _print_table(runner, metrics)
    # One contact sheet of the first validation images: image | ground truth | prediction, with a legend.
    rows = []
    model = runner.model
    model.eval()
    with torch.no_grad():
        for batch in runner.test_dataloader:
            for sample in model.test_step(batch):
                if len(rows) < args.num_overlays:
                    image = cv2.cvtColor(cv2.imread(sample.metainfo["img_path"], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                    gt = sample.gt_sem_seg.data[0].cpu().numpy() if sample.gt_sem_seg is not None else None
                    rows.append((image, gt, sample.pred_sem_seg.data[0].cpu().numpy()))
            if len(rows) >= args.num_overlays:
                break
    meta = runner.test_dataloader.dataset.metainfo
    sheet_path = osp.join(runner.work_dir, "overlays.png")
    if rows:
        sheet = contact_sheet(rows, meta["classes"], meta["palette"], row_height=args.overlay_height)
        if not cv2.imwrite(sheet_path, sheet[..., ::-1]):
            raise OSError(f"seglab demo: could not write {sheet_path}")
    print(f"seglab demo: mIoU {metrics.get('mIoU', float('nan')):.2f}; contact sheet of {len(rows)} validation "
          f"images (image | ground truth | prediction) in {sheet_path}; took {time.perf_counter() - start:.0f} s")
    return 0


def _threads_arg(value: str) -> int | str:
    """``--threads``: 'auto' or a thread count."""
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a thread count or 'auto', got {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``seglab`` command."""
    from seglab.config import DictAction

    parser = argparse.ArgumentParser(prog="seglab", description="Semantic segmentation on plain PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--work-dir", help="where logs and checkpoints go (default: the config's work_dir)")
        p.add_argument("--cfg-options", nargs="+", action=DictAction, metavar="KEY=VALUE",
                       help="override config entries, e.g. train_cfg.max_iters=20 model.decode_head.num_classes=11")
        p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")

    p = sub.add_parser("train", help="train a model from a config file")
    p.add_argument("config", help="config file")
    common(p)
    p.add_argument("--resume", nargs="?", const="auto", default=None, metavar="PATH",
                   help="resume from PATH, or from work_dir's last_checkpoint when no PATH is given")
    p.add_argument("--amp", action="store_true", help="mixed precision (AmpOptimWrapper)")
    p.add_argument("--launcher", choices=["none", "pytorch"], default="none", help="'pytorch' under torchrun")
    p.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    p.set_defaults(func=_train)

    p = sub.add_parser("test", help="evaluate a checkpoint on the config's test set")
    p.add_argument("config", help="config file")
    p.add_argument("checkpoint", help="checkpoint file (.pth or .safetensors)")
    common(p)
    p.add_argument("--show-dir", help="write ground truth | prediction images of every test sample here")
    p.add_argument("--tta", action="store_true", help="test-time augmentation (the config's tta_pipeline/tta_model)")
    p.add_argument("--out", help="also write each prediction as an index PNG <image stem>.png here "
                   "(the test evaluator's output_dir; CityscapesMetric: labelIds, the submission format)")
    p.add_argument("--launcher", choices=["none", "pytorch"], default="none", help="'pytorch' under torchrun")
    p.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    p.set_defaults(func=_test)

    p = sub.add_parser("demo", help="generate the demo dataset, train a small FCN, evaluate, write overlays")
    common(p)
    p.add_argument("--data-root", help="where the demo dataset is generated (default: data/demo_shapes)")
    p.add_argument("--num-overlays", type=int, default=8, help="how many validation images the contact sheet shows")
    p.add_argument("--overlay-height", type=int, default=256, help="row height of the contact sheet in pixels")
    p.add_argument("--threads", type=_threads_arg, default="auto",
                   help="torch intra-op threads on the CPU, or 'auto' (default): time the first training "
                        "iterations with 1 and 2 threads and keep the faster")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="training precision: fp32, or bf16 autocast (AmpOptimWrapper); 'auto' (default): bf16 on "
                        "a CPU with bfloat16 instructions (AVX512-BF16, AMX), else fp32")
    p.set_defaults(func=_demo)

    from seglab.tools import (
        analyze_logs,
        benchmark,
        browse_dataset,
        check_dataset,
        confusion_matrix,
        convert,
        convert_weights,
        export,
        flops,
        infer,
        new_config,
        print_config,
        publish,
        serve,
    )

    for tool in (infer, check_dataset, browse_dataset, convert, convert_weights, new_config, benchmark, flops,
                 analyze_logs, confusion_matrix, print_config, publish, export, serve):
        tool.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``seglab`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    from seglab.registry import ConfigError

    try:
        return args.func(args)
    except ConfigError as exc:
        logging.getLogger("seglab").debug("config error", exc_info=True)
        print(f"seglab {args.command}: config error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
