"""Crash safety: a run killed with SIGKILL (between checkpoints or inside a checkpoint write) and resumed
with ``--resume`` equals an uninterrupted run."""
from __future__ import annotations

import os
import os.path as osp
import signal
import subprocess
import time

import torch
from _engine_tiny import PYTHON, make_data, read_scalars, subprocess_env, write_config

# Imported by the runs (custom_imports). With SEGLAB_STALL_AT=n the run announces and then hangs
# after iteration n (its hooks have run: the loss line of iteration n is already logged).
STALL = '''
import os, time
from seglab.engine import Hook
from seglab.registry import HOOKS

@HOOKS.register_module()
class StallHook(Hook):
    priority = "LOWEST"

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        at = int(os.environ.get("SEGLAB_STALL_AT", "0"))
        if at and runner.iter + 1 == at:
            open(os.environ["SEGLAB_STALL_MARKER"], "w").close()
            time.sleep(600)
'''
# Runs ``seglab`` and SIGKILLs itself inside the atomic write of the checkpoint named by
# SEGLAB_KILL_IN_WRITE: the temporary file is complete, the rename over the final name has not happened.
KILL_IN_WRITE = '''
import os, signal, sys

_replace = os.replace

def replace(src, dst, *args, **kwargs):
    if os.path.basename(os.fspath(dst)) == os.environ.get("SEGLAB_KILL_IN_WRITE"):
        os.kill(os.getpid(), signal.SIGKILL)
    return _replace(src, dst, *args, **kwargs)

os.replace = replace
from seglab.cli import main
sys.exit(main(sys.argv[1:]))
'''
EXTRA = "custom_imports = dict(imports=['stall_hook'])\ncustom_hooks = [dict(type='StallHook')]\n"
ITERS, CKPT = 6, 2


def _losses(records: list[dict], after: int) -> list[tuple]:
    return [(r["step"], r["loss"], r["decode.loss_ce"], r["decode.acc_seg"], r["lr"])
            for r in records if "loss" in r and r["step"] > after]


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    data = make_data(str(tmp_path / "data"), n_train=8, n_val=2)
    (tmp_path / "stall_hook.py").write_text(STALL)
    # RandomFlip (numpy RNG) and dropout (torch RNG) make the run depend on the restored RNG states.
    kw = dict(iters=ITERS, batch=2, ckpt=CKPT, flip=True, dropout=0.3, norm="BN", extra=EXTRA)
    full_cfg = write_config(str(tmp_path / "full.py"), data, str(tmp_path / "full"), **kw)
    crash_cfg = write_config(str(tmp_path / "crash.py"), data, str(tmp_path / "crash"), **kw)
    torn_cfg = write_config(str(tmp_path / "torn.py"), data, str(tmp_path / "torn"), **kw)
    (tmp_path / "kill_in_write.py").write_text(KILL_IN_WRITE)
    marker = tmp_path / "stalled"
    base = dict(PYTHONPATH=str(tmp_path), SEGLAB_STALL_MARKER=str(marker))
    cmd = [PYTHON, "-m", "seglab.cli", "train"]
    full = subprocess.Popen([*cmd, full_cfg, "--device", "cpu"], env=subprocess_env(**base),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    crash = subprocess.Popen([*cmd, crash_cfg, "--device", "cpu"], env=subprocess_env(**base, SEGLAB_STALL_AT=str(CKPT + 1)),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    torn = subprocess.Popen([PYTHON, str(tmp_path / "kill_in_write.py"), "train", torn_cfg, "--device", "cpu"],
                            env=subprocess_env(**base, SEGLAB_KILL_IN_WRITE=f"iter_{2 * CKPT}.pth"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert crash.poll() is None, crash.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "the run never reached the stall point"
        time.sleep(0.05)
    # Past the checkpoint of iteration CKPT, in the middle of iteration CKPT + 1's work.
    assert osp.isfile(tmp_path / "crash" / f"iter_{CKPT}.pth")
    crash.send_signal(signal.SIGKILL)
    crash.wait(timeout=30)
    assert crash.returncode == -signal.SIGKILL
    with open(tmp_path / "crash" / "last_checkpoint") as f:
        assert f.read().strip() == str(tmp_path / "crash" / f"iter_{CKPT}.pth")
    assert not [n for n in os.listdir(tmp_path / "crash") if n.endswith(".tmp")]  # no half-written files left

    # Killed inside the write of iter_4.pth: the finished temporary file is left, the pointer still
    # names the previous checkpoint, and that one is whole.
    torn.wait(timeout=120)
    assert torn.returncode == -signal.SIGKILL, torn.stderr.read()[-3000:]
    torn_dir = tmp_path / "torn"
    assert not (torn_dir / f"iter_{2 * CKPT}.pth").exists()
    assert [n for n in os.listdir(torn_dir) if n.startswith(f".iter_{2 * CKPT}.pth.") and n.endswith(".tmp")]
    with open(torn_dir / "last_checkpoint") as f:
        pointed = f.read().strip()
    assert pointed == str(torn_dir / f"iter_{CKPT}.pth")
    assert torch.load(pointed, weights_only=True)["meta"]["iter"] == CKPT

    resumes = [subprocess.Popen([*cmd, c, "--device", "cpu", "--resume"], env=subprocess_env(**base),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for c in (crash_cfg, torn_cfg)]
    for run in resumes:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err[-3000:]
    full.wait(timeout=120)
    assert full.returncode == 0, full.stderr.read()[-3000:]

    # Same final weights (and the optimizer / scheduler state that produced them).
    a = torch.load(tmp_path / "full" / f"iter_{ITERS}.pth", weights_only=True)
    b = torch.load(tmp_path / "crash" / f"iter_{ITERS}.pth", weights_only=True)
    c = torch.load(torn_dir / f"iter_{ITERS}.pth", weights_only=True)
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
        assert torch.equal(a["state_dict"][key], c["state_dict"][key]), key
    assert a["meta"]["iter"] == b["meta"]["iter"] == c["meta"]["iter"] == ITERS
    assert a["param_schedulers"] == b["param_schedulers"] == c["param_schedulers"]
    # Same per-iteration log after the checkpoint: no iteration repeated or skipped.
    (full_log,) = read_scalars(str(tmp_path / "full"))
    killed_log, resumed_log = read_scalars(str(tmp_path / "crash"))
    assert [r["step"] for r in killed_log if "loss" in r] == list(range(1, CKPT + 2))
    assert [r["step"] for r in resumed_log if "loss" in r] == list(range(CKPT + 1, ITERS + 1))
    assert _losses(resumed_log, CKPT) == _losses(full_log, CKPT)
    assert _losses(killed_log, 0) == _losses(full_log, 0)[: CKPT + 1]
    torn_killed_log, torn_resumed_log = read_scalars(str(torn_dir))
    assert [r["step"] for r in torn_killed_log if "loss" in r] == list(range(1, 2 * CKPT + 1))
    assert _losses(torn_resumed_log, 0) == _losses(full_log, CKPT)  # iterations 3.. again, as uninterrupted


def test_checkpoint_contents_and_resume_from_path(tmp_path):
    """A checkpoint holds everything a resume needs; ``--resume PATH`` restarts from that file."""
    data = make_data(str(tmp_path / "data"), n_train=4, n_val=2)
    cfg = write_config(str(tmp_path / "c.py"), data, str(tmp_path / "w"), iters=2, batch=2, ckpt=1,
                       extra="optim_wrapper = dict(type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic',"
                             " optimizer=dict(type='SGD', lr=0.01))\n")
    env = subprocess_env()
    run = subprocess.run([PYTHON, "-m", "seglab", "train", cfg, "--device", "cpu"], env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    ckpt = torch.load(tmp_path / "w" / "iter_1.pth", weights_only=True)
    assert {"state_dict", "optimizer", "param_schedulers", "rng", "sampler", "meta", "message_hub"} <= set(ckpt)
    assert "loss_scaler" in ckpt["optimizer"]  # the GradScaler of float16 training
    assert {"python", "numpy", "torch"} <= set(ckpt["rng"])
    assert ckpt["meta"]["iter"] == 1
    assert ckpt["sampler"]["position"] == 2 and ckpt["sampler"]["type"] == "InfiniteSampler"
    # Resume from the first checkpoint although last_checkpoint names the second.
    run = subprocess.run([PYTHON, "-m", "seglab.cli", "train", cfg, "--device", "cpu", "--resume",
                          str(tmp_path / "w" / "iter_1.pth"), "--cfg-options", "train_cfg.max_iters=3"],
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "resumed from" in run.stdout and "iter_1.pth at iteration 1" in run.stdout
    assert torch.load(tmp_path / "w" / "iter_3.pth", weights_only=True)["meta"]["iter"] == 3
