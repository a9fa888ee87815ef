"""python -m benchmarks (benchmarks/suite.py): the report's fields and their relations (no timing assertions)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: the benchmarks package
from benchmarks.suite import main  # noqa: E402


@pytest.fixture()
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_suite_writes_json_and_markdown_with_share_of_peak(tmp_path, one_thread):
    import _tiny_seg

    config, _ = _tiny_seg.write_setup(str(tmp_path))
    report = main(["--configs", config, "--shape", "32", "48", "--iters", "2", "--warmup", "1", "--metric-samples",
                   "3", "--metric-shape", "16", "24", "--device", "cpu", "--out-dir", str(tmp_path / "out"),
                   "--name", "r"])
    saved = json.loads((tmp_path / "out" / "r.json").read_text())
    assert saved["inference"][0]["config"] == config and saved == json.loads(json.dumps(report))
    r = report["inference"][0]
    assert r["folded_conv_bn_pairs"] == 3  # the tiny backbone's two pairs and the head's ConvModule
    assert r["gflops_per_image"] > 0 and r["images_per_s"] > 0 and r["latency_ms_p90"] >= r["latency_ms_p50"]
    assert r["achieved_gflop_per_s"] == pytest.approx(r["gflops_per_image"] * r["images_per_s"])
    assert r["share_of_matmul_peak"] == pytest.approx(r["achieved_gflop_per_s"] / report["matmul_peak_gflop_per_s"])
    assert report["metric"]["samples"] == 3 and report["metric"]["predictions_per_s"] > 0
    md = (tmp_path / "out" / "r.md").read_text()
    assert "share of peak" in md and "IoUMetric:" in md and Path(config).name in md


def test_suite_times_end_to_end_training_after_the_first_iteration(tmp_path, one_thread):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
    from _engine_tiny import make_data, write_config

    data = make_data(str(tmp_path / "data"), n_train=4, n_val=2)
    config = write_config(str(tmp_path / "c.py"), data, str(tmp_path / "w"), iters=100, batch=2, norm="BN")
    report = main(["--configs", "--train-configs", config, "--train-iters", "3", "--workers", "0",
                   "--metric-samples", "0", "--device", "cpu", "--out-dir", str(tmp_path / "out"), "--name", "t"])
    t = report["training"][0]
    assert t["iters_timed"] == 2 and t["batch_size"] == 2 and t["num_workers"] == 0
    assert t["images_per_s"] == pytest.approx(2 * t["iters_per_s"])
    assert "training config (end to end)" in (tmp_path / "out" / "t.md").read_text()
    assert not (tmp_path / "w").exists()  # its own temporary work_dir, nothing left behind


def test_cpu_configs_run_in_their_own_process_so_peak_memory_is_their_own(tmp_path, one_thread):
    """A large allocation before the config does not show up in the config's peak RSS."""
    import mmap
    import os

    import _tiny_seg

    from benchmarks import suite

    config, _ = _tiny_seg.write_setup(str(tmp_path))
    log = tmp_path / "pids"
    real = suite.bench_config
    args = ["--configs", config, "--shape", "32", "48", "--iters", "1", "--warmup", "0", "--metric-samples", "0",
            "--device", "cpu", "--out-dir", str(tmp_path / "out"), "--name", "p"]
    try:
        suite.bench_config = lambda *a: log.open("a").write(f"{os.getpid()}\n") and real(*a)
        small = main(args)["inference"][0]["peak_memory_mb"]
        # 600 MiB resident in this process, then unmapped: its peak RSS rises, its RSS does not stay up
        # (an anonymous mapping of its own, whatever malloc settings this test process has).
        big = mmap.mmap(-1, 600 << 20)
        for offset in range(0, 600 << 20, 4096):
            big[offset] = 1
        big.close()
        after = main(args)["inference"][0]["peak_memory_mb"]
    finally:
        suite.bench_config = real
    pids = log.read_text().split()
    assert len(pids) == 2 and str(os.getpid()) not in pids
    assert after < small + 300  # had it run here, the 600 MiB peak of this process would have been reported
