"""Runtime switches: randomness, --amp, compile, channels_last, with_cp, custom_imports, hook-written checkpoints."""
from __future__ import annotations

import os.path as osp

import pytest
import torch
from _engine_tiny import make_data, write_config
from torch import nn

import seglab.models  # noqa: F401 - registers the backbones built by name here
from seglab.config import Config
from seglab.engine import Hook, Runner
from seglab.registry import MODELS, ConfigError


@pytest.fixture()
def cfg(tmp_path, single_thread):
    data = make_data(str(tmp_path / "data"), n_train=4, n_val=2)
    return Config.fromfile(write_config(str(tmp_path / "c.py"), data, str(tmp_path / "w"), iters=2, batch=2))


@pytest.fixture()
def restore_determinism():
    yield
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.deterministic = False


def test_randomness_seed_and_deterministic(cfg, restore_determinism):
    cfg.randomness = dict(seed=7, deterministic=True)
    a = Runner.from_cfg(cfg, device="cpu")
    assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
    assert not torch.backends.cudnn.benchmark
    b = Runner.from_cfg(cfg, device="cpu")
    assert a.seed == b.seed == 7
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k  # the same seed initialises the same weights


def test_amp_flag_switches_the_optim_wrapper(cfg, tmp_path, monkeypatch):
    from seglab import cli

    seen = {}

    class Stub:
        def train(self):
            return None

    def fake_from_cfg(config, device=None):
        seen["cfg"] = config
        return Stub()

    monkeypatch.setattr(Runner, "from_cfg", staticmethod(fake_from_cfg))
    assert cli.main(["train", cfg.filename, "--amp", "--device", "cpu"]) == 0
    ow = seen["cfg"].optim_wrapper
    assert ow["type"] == "AmpOptimWrapper" and ow["loss_scale"] == "dynamic"
    monkeypatch.undo()
    # On CPU the AMP wrapper autocasts to bfloat16 and needs no loss scaler.
    runner = Runner.from_cfg(seen["cfg"], device="cpu")
    runner.train_loop  # noqa: B018 - builds the optim wrapper with the loop
    wrapper = runner.optim_wrapper
    assert type(wrapper).__name__ == "AmpOptimWrapper" and wrapper._dtype() == torch.bfloat16
    with wrapper.optim_context(runner.model):
        out = runner.model.backbone.stem[0](torch.randn(1, 3, 8, 8))
    assert out.dtype == torch.bfloat16


@pytest.mark.parametrize("value, expected", [(True, {}), (dict(mode="max-autotune", dynamic=False),
                                                          dict(mode="max-autotune", dynamic=False))])
def test_compile_reaches_torch_compile(cfg, monkeypatch, value, expected):
    calls = []

    def fake_compile(fn, **kwargs):
        calls.append((fn, kwargs))
        return fn

    monkeypatch.setattr(torch, "compile", fake_compile)
    cfg.compile = value
    runner = Runner.from_cfg(cfg, device="cpu")
    assert len(calls) == 1 and calls[0][1] == expected
    assert calls[0][0].__self__ is runner.model  # the model's forward is what gets compiled
    cfg.compile = dict(mod="x")
    with pytest.raises(ConfigError, match="did you mean 'mode'"):
        Runner.from_cfg(cfg, device="cpu")


def test_channels_last_model_and_batches(cfg):
    cfg.channels_last = True
    runner = Runner.from_cfg(cfg, device="cpu")
    conv = runner.model.backbone.stem[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    loader = runner.train_dataloader
    batch = runner.model.data_preprocessor(next(iter(loader)), True)
    x = batch["inputs"]
    assert x.shape[0] == 2 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    losses = runner.model(**batch, mode="loss")  # and the model trains on it
    assert torch.isfinite(losses["decode.loss_ce"])


def test_with_cp_passes_through_the_backbone(single_thread):
    cfg = dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=8, out_indices=(3,))
    torch.manual_seed(0)
    plain = MODELS.build(dict(cfg))
    torch.manual_seed(0)
    cp = MODELS.build(dict(cfg, with_cp=True))
    assert all(block.with_cp for block in cp.layer1) and not plain.layer1[0].with_cp
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    plain.train(), cp.train()
    out_a, out_b = plain(x)[0], cp(x)[0]
    torch.testing.assert_close(out_a, out_b)
    out_a.sum().backward()
    grad_a = plain.layer1[0].conv1.weight.grad.clone()
    out_b.sum().backward()
    torch.testing.assert_close(cp.layer1[0].conv1.weight.grad, grad_a)  # recomputed, same gradients


def test_with_cp_recomputes_blocks_in_backward(single_thread, monkeypatch):
    """with_cp=True runs every residual block under torch.utils.checkpoint: its forward runs again in backward."""
    import torch.utils.checkpoint as cp

    calls = []
    real = cp.checkpoint

    def spy(fn, *args, **kwargs):
        calls.append(fn.__self__)
        return real(fn, *args, **kwargs)

    monkeypatch.setattr(cp, "checkpoint", spy)
    for with_cp, forwards_after_backward in ((False, 1), (True, 2)):
        calls.clear()
        model = MODELS.build(dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=8, out_indices=(3,),
                                  with_cp=with_cp))
        model.train()
        runs: list[int] = []
        model.layer2[1].conv1.register_forward_hook(lambda *args, runs=runs: runs.append(1))
        out = model(torch.randn(2, 3, 32, 32))[0]
        assert len(runs) == 1
        assert calls == ([b for layer in (model.layer1, model.layer2, model.layer3, model.layer4) for b in layer]
                         if with_cp else [])
        out.sum().backward()
        assert len(runs) == forwards_after_backward  # recomputed during backward only with checkpointing
    with torch.no_grad():  # no graph, nothing to save memory for: no checkpointing
        calls.clear()
        model(torch.randn(2, 3, 32, 32))
        assert calls == []


def test_checkpoint_saved_by_any_hook_counts_the_finished_iteration(cfg):
    class SaveEveryIter(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            runner.save_checkpoint(runner.work_dir, f"hook_{runner.iter + 1}.pth", update_pointer=False)

    runner = Runner.from_cfg(cfg, device="cpu")
    runner.register_hook(SaveEveryIter())
    runner.train()
    ckpt = torch.load(osp.join(cfg.work_dir, "hook_1.pth"), weights_only=True)
    assert ckpt["meta"]["iter"] == 1 and ckpt["sampler"]["position"] == 2  # resumes at iteration 2, not 1 again


def test_custom_imports(cfg, tmp_path, monkeypatch):
    (tmp_path / "my_hooks.py").write_text(
        "from seglab.engine import Hook\nfrom seglab.registry import HOOKS\n"
        "@HOOKS.register_module()\nclass MarkerHookForTest(Hook):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg.custom_imports = dict(imports=["my_hooks"])
    cfg.custom_hooks = [dict(type="MarkerHookForTest")]
    runner = Runner.from_cfg(cfg, device="cpu")
    assert any(type(h).__name__ == "MarkerHookForTest" for h in runner.hooks)
    cfg.custom_imports = dict(imports=["no_such_module_here"])
    with pytest.raises(ConfigError, match="no_such_module_here"):
        Runner.from_cfg(cfg, device="cpu")


def test_load_from_takes_weights_only(cfg, tmp_path):
    first = Runner.from_cfg(cfg, device="cpu")
    first.train()
    cfg2 = Config.fromfile(cfg.filename)
    cfg2.work_dir = str(tmp_path / "finetune")
    cfg2.load_from = osp.join(cfg.work_dir, "iter_2.pth")
    cfg2.train_cfg.max_iters = 1
    second = Runner.from_cfg(cfg2, device="cpu")
    second.train_loop  # noqa: B018 - build it (and the optim wrapper)
    second._maybe_load_from()
    assert second.iter == 0  # fine-tuning starts at iteration 0 with a fresh optimizer
    assert not second.optim_wrapper.optimizer.state
    for k, v in first.model.state_dict().items():
        assert torch.equal(v, second.model.state_dict()[k]), k


def test_mp_start_method_is_applied(cfg):
    import multiprocessing as mp

    cfg.env_cfg = dict(mp_cfg=dict(mp_start_method="spawn"))
    before = mp.get_start_method(allow_none=True)
    try:
        Runner.from_cfg(cfg, device="cpu")
        assert mp.get_start_method() == "spawn"
    finally:
        mp.set_start_method(before, force=True)
    cfg.env_cfg = dict(mp_cfg=dict(mp_start_method="teleport"))
    with pytest.raises(ConfigError, match="teleport"):
        Runner.from_cfg(cfg, device="cpu")


def test_nn_module_has_no_sync_bn_without_a_group(cfg):
    runner = Runner.from_cfg(cfg, device="cpu")
    assert runner.world_size == 1 and not isinstance(runner.model, nn.parallel.DistributedDataParallel)


def test_epoch_based_resume_mid_epoch_matches_uninterrupted(tmp_path):
    data = make_data(str(tmp_path / "data"), n_train=8, n_val=2)

    def make(name: str) -> Runner:
        path = write_config(str(tmp_path / f"{name}.py"), data, str(tmp_path / name), batch=2, flip=True,
                            dropout=0.3, ckpt=3)
        cfg = Config.fromfile(path)
        cfg.train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=2, val_interval=100)
        cfg.train_dataloader.sampler = dict(type="DefaultSampler", shuffle=True)
        cfg.param_scheduler = [dict(type="MultiStepLR", milestones=[1], gamma=0.5, by_epoch=True)]
        cfg.resume = name == "half" and osp.isdir(tmp_path / name)
        return Runner.from_cfg(cfg, device="cpu")

    full = make("full")
    full.train()

    class Interrupt(Hook):  # stop right after iteration 5 (epoch 2, batch 1): iter_3 is the last checkpoint
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter + 1 == 5:
                raise KeyboardInterrupt

    half = make("half")
    half.register_hook(Interrupt())
    with pytest.raises(KeyboardInterrupt):
        half.train()
    resumed = make("half")
    resumed.train()
    assert resumed.iter == full.iter == 8 and resumed.epoch == 2
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_resume_inside_a_log_interval_logs_the_same_means(tmp_path):
    """Scalar histories travel in the checkpoint: the first interval after a resume averages the same iterations."""
    from _engine_tiny import read_scalars

    data = make_data(str(tmp_path / "data"), n_train=8, n_val=2)

    def make(name: str, resume: bool = False) -> Runner:
        cfg = Config.fromfile(write_config(str(tmp_path / f"{name}.py"), data, str(tmp_path / name), iters=6,
                                           batch=2, ckpt=2, log_interval=3, flip=True))
        cfg.resume = resume
        return Runner.from_cfg(cfg, device="cpu")

    make("full").train()

    class Interrupt(Hook):
        priority = "LOWEST"

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter + 1 == 3:
                raise KeyboardInterrupt

    half = make("half")
    half.register_hook(Interrupt())
    with pytest.raises(KeyboardInterrupt):
        half.train()
    make("half", resume=True).train()  # from iter_2.pth: iteration 3 closes an interval begun before the crash
    full = [r for r in read_scalars(str(tmp_path / "full"))[0] if "loss" in r]
    resumed = [r for r in read_scalars(str(tmp_path / "half"))[1] if "loss" in r]
    keys = ("step", "loss", "decode.acc_seg", "lr")
    assert [tuple(r[k] for k in keys) for r in resumed] == [tuple(r[k] for k in keys) for r in full if r["step"] > 2]
    assert [r["step"] for r in resumed] == [3, 6]


@pytest.mark.parametrize("value", [True, False])
def test_fuse_conv_bn_reaches_the_test_loop(tmp_path, single_thread, value):
    from seglab.models import is_fused

    data = make_data(str(tmp_path / "data"), n_train=4, n_val=2)
    cfg = Config.fromfile(write_config(str(tmp_path / "c.py"), data, str(tmp_path / "w"), iters=2, batch=2, norm="BN"))
    cfg.fuse_conv_bn = value
    runner = Runner.from_cfg(cfg, device="cpu")
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    assert "mIoU" in runner.test()
    assert is_fused(runner.model) == value
    after = runner.model.state_dict()  # what a checkpoint would hold: the plain weights
    assert after.keys() == before.keys() and all(torch.equal(after[k], v) for k, v in before.items())


@pytest.mark.parametrize("value", [True, False])
def test_winograd_conv_reaches_training_and_the_test_loop(tmp_path, single_thread, value):
    from seglab.models import winograd_convs

    data = make_data(str(tmp_path / "data"), n_train=4, n_val=2)
    cfg = Config.fromfile(write_config(str(tmp_path / "c.py"), data, str(tmp_path / "w"), iters=2, batch=2, norm="BN"))
    cfg.model.decode_head.update(channels=128, num_convs=2)  # a 128->128 3x3 conv: wide enough for Winograd
    cfg.winograd_conv = value
    runner = Runner.from_cfg(cfg, device="cpu")
    convs = [m for m in runner.model.modules() if "_seglab_winograd" in m.__dict__]
    assert bool(convs) == value and all(m.__dict__["_conv_forward"].training for m in convs)  # training too
    assert "mIoU" in runner.test()
    assert (winograd_convs(runner.model) > 0) == value


def test_fuse_conv_bn_must_be_a_bool(cfg):
    cfg.fuse_conv_bn = "yes"
    with pytest.raises(ConfigError, match="fuse_conv_bn must be True or False"):
        Runner.from_cfg(cfg, device="cpu").test()


@pytest.mark.parametrize("value", [True, False])
def test_winograd_conv_through_seglab_train(tmp_path, single_thread, monkeypatch, value):
    """`seglab train CFG --cfg-options winograd_conv=...` decides whether training runs Winograd convs."""
    import seglab.models.winograd as winograd_module
    from seglab import cli

    calls = []
    real = winograd_module.winograd_conv2d
    monkeypatch.setattr(winograd_module, "winograd_conv2d", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(winograd_module, "MIN_PIXELS", 0)  # the tiny config's maps
    data = make_data(str(tmp_path / "data"), n_train=4, n_val=2, size=64)  # 4x4 features: one Winograd tile
    path = write_config(str(tmp_path / "c.py"), data, str(tmp_path / "w"), iters=2, batch=2, norm="BN",
                        extra="model['decode_head'].update(channels=128, num_convs=2)\n")
    assert cli.main(["train", path, "--device", "cpu", "--cfg-options", f"winograd_conv={value}"]) == 0
    assert bool(calls) == value


@pytest.mark.parametrize("value", [True, False])
def test_blocked_depthwise_through_seglab_test(tmp_path, single_thread, monkeypatch, value):
    """`seglab test CFG CKPT --cfg-options blocked_depthwise=...` decides whether evaluation runs the blocked path
    (the run-wide key reaches the test loop)."""
    import seglab.models.depthwise as dw_module
    from seglab import cli

    calls = []
    real = dw_module.blocked_depthwise_conv2d
    monkeypatch.setattr(dw_module, "blocked_depthwise_conv2d", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(dw_module, "MIN_AREA", 0)  # the tiny config's maps
    data = make_data(str(tmp_path / "data"), n_train=4, n_val=2)
    work = tmp_path / "w"
    path = write_config(str(tmp_path / "c.py"), data, str(work), iters=2, batch=2, norm="BN", ckpt=2,
                        extra="model['decode_head']['type'] = 'DepthwiseSeparableFCNHead'\n")
    assert cli.main(["train", path, "--device", "cpu"]) == 0
    calls.clear()  # training forwards never take it (autograd): only the test below counts
    assert cli.main(["test", path, str(work / "iter_2.pth"), "--device", "cpu",
                     "--cfg-options", f"blocked_depthwise={value}"]) == 0
    assert bool(calls) == value


@pytest.mark.parametrize("value", [True, False])
def test_segformer_commute_fusion_through_seglab_train(tmp_path, single_thread, monkeypatch, value):
    """`seglab train CFG --cfg-options model.decode_head.commute_fusion=...` picks the SegformerHead's fusion order."""
    from seglab import cli
    from seglab.models.decode_heads import SegformerHead

    calls = []
    real = SegformerHead._fuse_then_resize
    monkeypatch.setattr(SegformerHead, "_fuse_then_resize", lambda self, *a: calls.append(1) or real(self, *a))
    data = make_data(str(tmp_path / "data"), n_train=4, n_val=2)
    head = ("model['backbone']['out_indices'] = (0, 1, 2, 3)\n"
            "model['decode_head'] = dict(type='SegformerHead', in_channels=[8, 16, 32, 64], in_index=[0, 1, 2, 3], "
            "channels=8, num_classes=3, norm_cfg=norm_cfg)\n")
    path = write_config(str(tmp_path / "c.py"), data, str(tmp_path / "w"), iters=2, batch=2, norm="BN", extra=head)
    assert cli.main(["train", path, "--device", "cpu", "--cfg-options",
                     f"model.decode_head.commute_fusion={value}"]) == 0
    assert bool(calls) == value


def _tiny_segformer_checkpoint(tmp_path) -> tuple[str, str]:
    """A MiT + SegformerHead config trained 2 iterations by `seglab train`: (config path, checkpoint path)."""
    from seglab import cli

    data = make_data(str(tmp_path / "data"), n_train=4, n_val=2)
    work = tmp_path / "w"
    model = ("model['backbone'] = dict(type='MixVisionTransformer', embed_dims=4, num_layers=(1, 1, 1, 1), "
             "num_heads=(1, 1, 1, 1))\n"
             "model['decode_head'] = dict(type='SegformerHead', in_channels=[4, 4, 4, 4], in_index=[0, 1, 2, 3], "
             "channels=8, num_classes=3, norm_cfg=norm_cfg)\n")
    path = write_config(str(tmp_path / "c.py"), data, str(work), iters=2, batch=2, norm="BN", ckpt=2, extra=model)
    assert cli.main(["train", path, "--device", "cpu"]) == 0
    return path, str(work / "iter_2.pth")


@pytest.mark.parametrize(("key", "method"), [("model.backbone.ffn_row_blocks", "mix_ffn"),
                                             ("model.decode_head.commute_fusion", "segformer_head")])
def test_segformer_block_paths_through_seglab_test(tmp_path, single_thread, monkeypatch, key, method):
    """`seglab test CFG CKPT --cfg-options KEY=...` decides whether evaluation builds Mix-FFN's hidden map by row
    blocks (ffn_row_blocks) or runs the head by pixel blocks (commute_fusion); their values are those of the whole
    map (tests/models/backbones/test_mit.py, tests/models/decode_heads/test_segformer_head.py)."""
    from seglab import cli
    from seglab.models.backbones.mit import MixFFN
    from seglab.models.decode_heads import SegformerHead

    cls, name = (MixFFN, "_by_row_blocks") if method == "mix_ffn" else (SegformerHead, "_logits_by_rows")
    calls = []
    real = getattr(cls, name)
    monkeypatch.setattr(cls, name, lambda self, *a: calls.append(1) or real(self, *a))
    path, ckpt = _tiny_segformer_checkpoint(tmp_path)
    for value in (True, False):
        calls.clear()  # training forwards never take them (autograd): only each test below counts
        assert cli.main(["test", path, ckpt, "--device", "cpu", "--cfg-options", f"{key}={value}"]) == 0
        assert bool(calls) == value, (key, value)


def test_mit_ffn_row_blocks_must_be_a_bool():
    with pytest.raises(ConfigError, match="ffn_row_blocks"):
        MODELS.build(dict(type="MixVisionTransformer", embed_dims=4, num_layers=(1, 1, 1, 1), ffn_row_blocks="no"))
