"""Downloads: once into the cache, hash suffix checked, atomic, errors naming the URL; file:// URLs."""
from __future__ import annotations

import os

import pytest
import torch
from _zoo_server import sha256_prefix

from seglab.io.checkpoint import read_checkpoint
from seglab.io.download import DownloadError, checkpoint_cache_dir, download_checkpoint, hash_prefix


def _weights_bytes(tmp_path, value: float = 0.5) -> bytes:
    path = tmp_path / f"w{value}.pth"
    torch.save({"state_dict": {"conv.weight": torch.full((2, 3), value)}}, path)
    return path.read_bytes()


def test_cache_dir_follows_seglab_home_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGLAB_HOME", str(tmp_path / "home"))
    assert checkpoint_cache_dir() == str(tmp_path / "home" / "checkpoints")
    monkeypatch.delenv("SEGLAB_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert checkpoint_cache_dir() == str(tmp_path / "xdg" / "seglab" / "checkpoints")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert checkpoint_cache_dir() == os.path.expanduser("~/.cache/seglab/checkpoints")


def test_hash_prefix_of_file_names():
    assert hash_prefix("resnet50_v1c-2cccc1ad.pth") == "2cccc1ad"
    assert hash_prefix("pspnet_r50-d8_512x1024_40k_cityscapes_20200605_003338-2966598c.pth") == "2966598c"
    assert hash_prefix("resnet50-d8.pth") is None  # not hex
    assert hash_prefix("vgg_state_dict.pth") is None


def test_downloads_once_and_verifies_the_hash(zoo_server, tmp_path):
    data = _weights_bytes(tmp_path)
    name = f"r18-{sha256_prefix(data)}.pth"
    url = zoo_server.add(f"/pretrain/{name}", data)
    first = download_checkpoint(url)
    assert first == str(zoo_server.cache / name)
    assert open(first, "rb").read() == data
    second = download_checkpoint(url)
    assert second == first and zoo_server.hits == [f"/pretrain/{name}"]  # the second call is a cache hit
    assert sorted(os.listdir(zoo_server.cache)) == [name]  # no temp file left behind
    assert torch.equal(read_checkpoint(url)["state_dict"]["conv.weight"], torch.full((2, 3), 0.5))


def test_hash_mismatch_fails_naming_url_expected_and_actual(zoo_server, tmp_path):
    data = _weights_bytes(tmp_path)
    url = zoo_server.add("/pretrain/r18-0badc0de.pth", data)
    with pytest.raises(DownloadError) as err:
        download_checkpoint(url)
    message = str(err.value)
    assert url in message and "0badc0de" in message
    assert __import__("hashlib").sha256(data).hexdigest() in message
    assert not zoo_server.cache.exists() or os.listdir(zoo_server.cache) == []  # nothing published


def test_hash_check_can_be_turned_off_for_names_known_to_be_wrong(zoo_server, tmp_path):
    data = _weights_bytes(tmp_path)
    url = zoo_server.add("/models/efficientnet_b0_rwightman-3dd342df.pth", data)
    assert open(download_checkpoint(url, check_hash=False), "rb").read() == data


def test_http_404_fails_naming_the_url(zoo_server):
    url = zoo_server.base + "/pretrain/missing-2cccc1ad.pth"
    with pytest.raises(DownloadError, match=rf"{url}: HTTP 404"):
        download_checkpoint(url)
    assert not (zoo_server.cache / "missing-2cccc1ad.pth").exists()


def test_unreachable_server_fails_naming_the_url(zoo_server):
    url = zoo_server.base + "/x.pth"
    zoo_server.close()
    with pytest.raises(DownloadError, match=f"cannot download {url}"):
        download_checkpoint(url, timeout=5)


def test_file_url_reads_the_local_file(tmp_path):
    path = tmp_path / "local weights.pth"
    path.write_bytes(_weights_bytes(tmp_path, 0.25))
    out = read_checkpoint(path.as_uri())  # file:///.../local%20weights.pth
    assert torch.equal(out["state_dict"]["conv.weight"], torch.full((2, 3), 0.25))


def test_backbone_pretrained_from_an_http_url(zoo_server, tmp_path, caplog):
    import logging

    import seglab.models  # noqa: F401 - registration
    from seglab.models.weight_init import PretrainedWeightsError
    from seglab.registry import MODELS

    cfg = dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=8)
    gen = torch.Generator().manual_seed(0)
    state = {k: torch.randn(v.shape, generator=gen) for k, v in MODELS.build(cfg).state_dict().items()
             if v.is_floating_point()}  # not BatchNorm's integer step counters
    torch.save({"state_dict": state}, tmp_path / "r18.pth")
    data = (tmp_path / "r18.pth").read_bytes()
    url = zoo_server.add(f"/pretrain/r18_v1c-{sha256_prefix(data)}.pth", data)
    model = MODELS.build(dict(cfg, init_cfg=dict(type="Pretrained", checkpoint=url)))
    with caplog.at_level(logging.INFO, logger="seglab"):
        model.init_weights()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert f"pretrained tensors from {url}" in caplog.text
    assert f"checkpoint {url} is {zoo_server.cache}" in caplog.text  # where the file is
    missing = zoo_server.base + "/pretrain/r18_v1c-2cccc1ad.pth"
    model = MODELS.build(dict(cfg, init_cfg=dict(type="Pretrained", checkpoint=missing)))
    with pytest.raises(PretrainedWeightsError, match=rf"from {missing}: cannot download {missing}: HTTP 404"):
        model.init_weights()
