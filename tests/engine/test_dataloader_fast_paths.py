"""Data loader defaults: pinned memory for a GPU, persistent workers, OpenCV thread control in workers."""
import cv2
import pytest
from torch.utils.data import Dataset

import seglab.engine.builders as builders
from seglab.engine.dataloader import build_dataloader


class _CvThreads(Dataset):
    """Each item is the OpenCV thread count of the process that loads it."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> int:
        return cv2.getNumThreads()


def _loader(device=None, **cfg):
    return build_dataloader(dict(dict(dataset=_CvThreads(), batch_size=1), **cfg), seed=0, device=device)


@pytest.mark.parametrize(("device", "cfg", "pinned"), [
    ("cuda", {}, True), ("cuda:1", {}, True), ("cpu", {}, False), (None, {}, False),
    ("cuda", dict(pin_memory=False), False), ("cpu", dict(pin_memory=True), True)])
def test_pin_memory_defaults_to_the_device(device, cfg, pinned):
    assert _loader(device, **cfg).pin_memory is pinned


@pytest.mark.parametrize(("cfg", "persistent"), [
    (dict(num_workers=2), True), (dict(num_workers=2, persistent_workers=False), False),
    (dict(num_workers=0), False), (dict(num_workers=0, persistent_workers=True), False)])
def test_persistent_workers_by_default_with_workers(cfg, persistent):
    assert _loader(**cfg).persistent_workers is persistent


def test_workers_run_opencv_with_the_threads_asked_for():
    before = cv2.getNumThreads()
    cv2.setNumThreads(3)
    try:
        default = [int(x[0]) for x in build_dataloader(dict(dataset=_CvThreads(), num_workers=1, batch_size=1))]
        two = [int(x[0]) for x in build_dataloader(dict(dataset=_CvThreads(), num_workers=1, batch_size=1),
                                                opencv_threads=2)]
        main = [int(x[0]) for x in build_dataloader(dict(dataset=_CvThreads(), batch_size=1))]
    finally:
        cv2.setNumThreads(before)
    assert default == [1, 1]  # setNumThreads(0): sequential, reported as one thread
    assert two == [2, 2]
    assert main == [3, 3]  # no workers: the main process keeps its own setting


def test_runs_pass_device_and_env_cfg_threads(monkeypatch):
    seen = {}
    monkeypatch.setattr(builders, "build_dataloader", lambda cfg, **kw: seen.update(kw))

    class Ctx:
        sampler_seed = 3
        device = "cuda:0"

    factory = builders.LoopFactory(dict(env_cfg=dict(mp_cfg=dict(opencv_num_threads=2))), model=None, ctx=Ctx())
    factory.dataloader(dict(dataset=None), "train_dataloader")
    assert seen == dict(seed=3, where="train_dataloader", device="cuda:0", opencv_threads=2)
    builders.LoopFactory({}, model=None, ctx=Ctx()).dataloader(dict(dataset=None), "val_dataloader")
    assert seen["opencv_threads"] == 0
