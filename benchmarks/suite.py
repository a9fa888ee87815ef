"""``python -m benchmarks``: seglab's own throughput for a list of configs, each as a share of the device's peak.

Per config: inference images/s and latency p50/p90 of ``model.predict`` through the path ``init_model``
picks (``seglab.tools.benchmark.benchmark_model``), peak memory (CUDA max allocated, or on the CPU the peak
RSS of a forked process that runs only this config),
forward FLOPs (torch's FlopCounterMode) and the achieved FLOP/s as a share of the fp32 matmul peak
measured in the same process. Also IoUMetric throughput, and for ``--train-configs`` the end-to-end training iterations/s and images/s
(data loading with ``--workers`` workers + step + optimizer). Writes JSON + Markdown into
``benchmarks/results/``. Side-by-side ratios with MMSegmentation are ``bench_models.py``'s job.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import os.path as osp
import platform
import tempfile
import time
from typing import Any

import torch

from .bench_timing import matmul_peak_flops, run_forked

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIGS = [
    "configs/fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py",
    "configs/deeplabv3plus/deeplabv3plus_r50-d8_4xb2-40k_cityscapes-512x1024.py",
    "configs/pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py",
    "configs/segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py",
]


def bench_config(config: str, shape: tuple[int, int], batch: int, iters: int, warmup: int, device: torch.device,
                 peak: float) -> dict[str, Any]:
    """Inference figures of one config's model (random weights) at ``shape``."""
    from seglab.apis import init_model
    from seglab.models import folded_pairs, winograd_convs
    from seglab.tools.benchmark import benchmark_model
    from seglab.tools.flops import count_flops

    model = init_model(config, device=device)
    channels = next((m.in_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)), 3)
    x = torch.randn(1, channels, *shape, device=device)
    # The model's nominal FLOPs (direct convolutions, as `seglab flops` and MMSeg's get_flops count them):
    # the Winograd path does fewer multiplications, so its effective share of the peak can pass 100%.
    nominal = init_model(config, device=device, winograd_conv=False)
    flops, _ = count_flops(lambda t: nominal(t, mode="tensor"), x)
    result = benchmark_model(model, shape, batch, iters, warmup, device=device)
    achieved = flops * result["images_per_s"]
    return dict(config=config, shape=list(shape), batch=batch, folded_conv_bn_pairs=folded_pairs(model),
                winograd_convs=winograd_convs(model),
                gflops_per_image=flops / 1e9, achieved_gflop_per_s=achieved / 1e9,
                share_of_matmul_peak=achieved / peak, **result)


def _reset_peak_rss() -> None:
    """Start the process's peak RSS from its current RSS (Linux >= 4.0): a fork inherits the parent's peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # not Linux: the peak then includes the parent's
        pass


def bench_config_alone(*args: Any) -> dict[str, Any]:
    """:func:`bench_config` in a forked process whose peak RSS starts from its own RSS (CPU)."""
    def run() -> dict[str, Any]:
        _reset_peak_rss()
        return bench_config(*args)

    return run_forked(run)


def bench_training(config: str, iters: int, workers: int, data_root: str | None, device: torch.device,
                   work_dir: str) -> dict[str, Any]:
    """End-to-end training throughput of ``config`` (data loading + forward + backward + optimizer step).

    Runs its own train loop for ``iters`` iterations (no validation, no checkpoints) and times from the
    end of the first iteration to the end of the last, so start-up and the first batch are left out.
    """
    from seglab.config import Config
    from seglab.engine import Hook, Runner

    class _Clock(Hook):
        def __init__(self) -> None:
            self.stamps: list[float] = []

        def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                             outputs: dict | None = None) -> None:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            self.stamps.append(time.perf_counter())

    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.train_cfg = dict(type="IterBasedTrainLoop", max_iters=iters, val_interval=iters + 1)
    cfg.train_dataloader.num_workers = workers
    cfg.train_dataloader.persistent_workers = workers > 0
    if data_root:
        cfg.train_dataloader.dataset.data_root = data_root
    cfg.default_hooks = dict(checkpoint=None, logger=dict(type="LoggerHook", interval=iters + 1))
    cfg.param_scheduler = []
    runner = Runner.from_cfg(cfg, device=str(device))
    clock = _Clock()
    runner.register_hook(clock, "LOWEST")
    runner.train()
    batch = cfg.train_dataloader.batch_size
    seconds = clock.stamps[-1] - clock.stamps[0]
    return dict(config=config, iters_timed=len(clock.stamps) - 1, batch_size=batch, num_workers=workers,
                iters_per_s=(len(clock.stamps) - 1) / seconds, images_per_s=batch * (len(clock.stamps) - 1) / seconds)


def bench_metric(samples: int, shape: tuple[int, int], num_classes: int, device: torch.device) -> dict[str, Any]:
    """IoUMetric process + evaluate over ``samples`` random predictions: predictions/s."""
    from seglab.evaluation import IoUMetric
    from seglab.structures import SegDataSample

    gen = torch.Generator().manual_seed(0)
    data = []
    for _ in range(samples):
        gt = torch.randint(0, num_classes, (1, *shape), generator=gen)
        gt[:, : shape[0] // 10] = 255
        pred = torch.randint(0, num_classes, (1, *shape), generator=gen)
        data.append(SegDataSample(pred_sem_seg=pred.to(device), gt_sem_seg=gt.to(device)))
    metric = IoUMetric(iou_metrics=["mIoU", "mDice", "mFscore"])
    metric.dataset_meta = dict(classes=[f"c{i}" for i in range(num_classes)])
    t0 = time.perf_counter()
    for sample in data:
        metric.process({}, [sample])
    metric.evaluate(samples)
    seconds = time.perf_counter() - t0
    return dict(samples=samples, shape=list(shape), num_classes=num_classes, predictions_per_s=samples / seconds)


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables."""
    env = report["environment"]
    lines = [f"# seglab benchmark suite, {env['date']}", "",
             f"device {env['device']}, torch {env['torch']}, {env['torch_threads']} threads; fp32 matmul peak "
             f"{report['matmul_peak_gflop_per_s']:.1f} GFLOP/s (measured in the same process)", "",
             "| config | shape x batch | images/s | p50 ms | p90 ms | peak MiB | GFLOP/image | GFLOP/s | share of peak |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["inference"]:
        lines.append(f"| {osp.basename(r['config'])} | {r['shape'][0]}x{r['shape'][1]} x{r['batch']} | "
                     f"{r['images_per_s']:.2f} | {r['latency_ms_p50']:.1f} | {r['latency_ms_p90']:.1f} | "
                     f"{r['peak_memory_mb']:.0f} | {r['gflops_per_image']:.1f} | {r['achieved_gflop_per_s']:.1f} | "
                     f"{100 * r['share_of_matmul_peak']:.0f}% |")
    if report.get("training"):
        lines += ["", "| training config (end to end) | batch | workers | iterations/s | images/s |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {osp.basename(t['config'])} | {t['batch_size']} | {t['num_workers']} | {t['iters_per_s']:.3f} | "
                  f"{t['images_per_s']:.2f} |" for t in report["training"]]
    m = report.get("metric")
    if m:
        lines += ["", f"IoUMetric: {m['predictions_per_s']:.1f} predictions/s ({m['samples']} x "
                      f"{m['shape'][0]}x{m['shape'][1]}, {m['num_classes']} classes)"]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="*", default=DEFAULT_CONFIGS, help="configs to infer with (default: four models)")
    p.add_argument("--shape", type=int, nargs=2, default=[512, 512], metavar=("H", "W"))
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--iters", type=int, default=10, help="timed inference iterations per config")
    p.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    p.add_argument("--metric-samples", type=int, default=50, help="0 leaves the metric out")
    p.add_argument("--metric-shape", type=int, nargs=2, default=[512, 1024], metavar=("H", "W"))
    p.add_argument("--train-configs", nargs="*", default=[], help="configs to train end to end (default: none)")
    p.add_argument("--train-iters", type=int, default=6, help="training iterations per config (first untimed)")
    p.add_argument("--workers", type=int, default=2, help="data-loader workers for training")
    p.add_argument("--data-root", default=None, help="override the training dataset's data_root")
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--out-dir", default=osp.join(REPO, "benchmarks", "results"))
    p.add_argument("--name", default=None, help="file stem (default: suite-<device>-<date>)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the suite, write ``<name>.json`` and ``<name>.md``, return the report."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    peak = matmul_peak_flops(device)
    report: dict[str, Any] = dict(
        environment=dict(date=datetime.date.today().isoformat(), device=str(device), torch=torch.__version__,
                         torch_threads=torch.get_num_threads(), python=platform.python_version(),
                         device_name=torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()),
        args=vars(args), matmul_peak_gflop_per_s=peak / 1e9, inference=[])
    for config in args.configs:
        bench_args = (config, tuple(args.shape), args.batch_size, args.iters, args.warmup, device, peak)
        # On the CPU each config runs in a forked child, so that the process's peak RSS it reports is its own
        # (a GPU reports the allocator's peak, reset per config; CUDA cannot be forked).
        r = bench_config_alone(*bench_args) if device.type == "cpu" else bench_config(*bench_args)
        report["inference"].append(r)
        print(json.dumps(r), flush=True)
    report["training"] = []
    for config in args.train_configs:
        with tempfile.TemporaryDirectory() as work_dir:
            t = bench_training(config, args.train_iters, args.workers, args.data_root, device, work_dir)
        report["training"].append(t)
        print(json.dumps(t), flush=True)
    if args.metric_samples:
        report["metric"] = bench_metric(args.metric_samples, tuple(args.metric_shape), 19, device)
        print(json.dumps(report["metric"]), flush=True)
    name = args.name or f"suite-{device.type}-{report['environment']['date']}"
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, name + ".json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(osp.join(args.out_dir, name + ".md"), "w") as f:
        f.write(markdown(report))
    print(markdown(report))
    return report
