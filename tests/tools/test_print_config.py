"""seglab print-config: the resolved config with overrides applied."""
from __future__ import annotations

from seglab.cli import main


def test_print_config_applies_overrides(tmp_path, capsys):
    (tmp_path / "base.py").write_text("model = dict(type='EncoderDecoder', test_cfg=dict(mode='whole'))\nx = 1\n")
    (tmp_path / "child.py").write_text("_base_ = './base.py'\nx = 2\n")
    assert main(["print-config", str(tmp_path / "child.py"), "--cfg-options", "model.test_cfg.mode=slide"]) == 0
    out = capsys.readouterr().out
    assert "x = 2" in out and "'slide'" in out and "'whole'" not in out
