"""Named checkpoints (open-mmlab://, torchvision://, mmcls://) resolve through the model_zoo tables."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from seglab.io import zoo
from seglab.io.checkpoint import read_checkpoint
from seglab.io.zoo import resolve_zoo_name, zoo_schemes, zoo_table
from seglab.registry import ConfigError

REPO = Path(__file__).resolve().parents[2]
NAME = re.compile(r"""['"]((?:%s)[^'"]+)['"]""")

# Every scheme name in MMSegmentation 1.2.2's configs (all families, from
#   grep -rhoE "(open-mmlab|torchvision|mmcls)://[A-Za-z0-9_./-]+" mmseg/.mim/configs | sort -u
# on the mmsegmentation-1.2.2 wheel); the CNN families use all but the HRNet/MobileNetV3 ones.
MMSEG_122_NAMES = [
    "mmcls://mobilenet_v2",
    "open-mmlab://contrib/mobilenet_v3_large",
    "open-mmlab://contrib/mobilenet_v3_small",
    "open-mmlab://msra/hrnetv2_w18",
    "open-mmlab://msra/hrnetv2_w18_small",
    "open-mmlab://msra/hrnetv2_w48",
    "open-mmlab://resnest101",
    "open-mmlab://resnet101_v1c",
    "open-mmlab://resnet18_v1c",
    "open-mmlab://resnet50_v1c",
    "torchvision://resnet101",
    "torchvision://resnet18",
    "torchvision://resnet50",
]


def test_names_resolve_to_the_mmengine_urls():
    assert resolve_zoo_name("open-mmlab://resnet50_v1c").url == (
        "https://download.openmmlab.com/pretrain/third_party/resnet50_v1c-2cccc1ad.pth")
    assert resolve_zoo_name("openmmlab://resnet50_v1c").url.endswith("/resnet50_v1c-2cccc1ad.pth")
    # torchvision:// uses torchvision 0.12's names: resnet50 is the V1 (76.1% top-1) file.
    assert resolve_zoo_name("torchvision://resnet50").url == "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    entry = resolve_zoo_name("mmcls://mobilenet_v2")
    assert entry.url == ("https://download.openmmlab.com/mmclassification/v0/mobilenet_v2/"
                         "mobilenet_v2_batch256_imagenet_20200708-3b2dc3af.pth")
    assert entry.keep_prefix == "backbone."
    alias = resolve_zoo_name("mmpretrain://mobilenet_v2")  # MMClassification's new name, same table
    assert (alias.url, alias.keep_prefix) == (entry.url, "backbone.")
    # mmengine's deprecated names are aliases
    assert resolve_zoo_name("open-mmlab://resnet50_caffe").url.endswith("/resnet50_caffe-788b5fa3.pth")


@pytest.mark.parametrize("name", MMSEG_122_NAMES)
def test_every_name_in_mmseg_122_configs_resolves(name):
    assert resolve_zoo_name(name).url.startswith("https://download.")


def test_every_name_in_our_configs_resolves():
    pattern = re.compile(NAME.pattern % "|".join(re.escape(s) for s in zoo_schemes()))
    names = {m for f in (REPO / "configs").rglob("*.py") for m in pattern.findall(f.read_text())}
    assert {"open-mmlab://resnet50_v1c", "torchvision://resnet50", "mmcls://mobilenet_v2"} <= names
    for name in sorted(names):
        resolve_zoo_name(name)


def test_tables_hold_https_urls():
    for scheme in zoo_schemes():
        table = zoo_table(scheme)
        assert table, scheme
        assert all(url.startswith("https://") for url in table.values()), scheme


def test_names_with_a_known_wrong_file_hash_are_not_checked():
    assert resolve_zoo_name("torchvision://resnet50").check_hash
    assert not resolve_zoo_name("torchvision://efficientnet_b0").check_hash  # pytorch/vision#7744
    assert not resolve_zoo_name("open-mmlab://jhu/resnet50_gn_ws").check_hash  # open-mmlab/mmcv#600
    for scheme in zoo_schemes():  # every listed name exists
        table = zoo._tables()[scheme]
        assert set(table["unchecked_hash"]) <= set(table["urls"]), scheme


def test_unknown_name_lists_the_closest():
    with pytest.raises(ConfigError, match=r"open-mmlab://resnet50_v1c.*open-mmlab://resnet101_v1c") as err:
        resolve_zoo_name("open-mmlab://resnet50_v1")
    assert "model_zoo/open-mmlab.json" in str(err.value)
    with pytest.raises(ConfigError, match="torchvision://resnet50"):
        resolve_zoo_name("torchvision://resnet5O")


def test_mmcls_names_keep_only_the_backbone(zoo_server, tmp_path):
    # A cached file is used as is: put the mmcls classifier where the download would land.
    url = resolve_zoo_name("mmcls://mobilenet_v2").url
    zoo_server.cache.mkdir(parents=True)
    torch.save({"meta": {}, "state_dict": {"backbone.conv1.conv.weight": torch.ones(1),
                                           "head.fc.weight": torch.zeros(1)}},
               zoo_server.cache / url.rsplit("/", 1)[1])
    out = read_checkpoint("mmcls://mobilenet_v2")
    assert list(out["state_dict"]) == ["conv1.conv.weight"]
    assert zoo_server.hits == []  # no network
