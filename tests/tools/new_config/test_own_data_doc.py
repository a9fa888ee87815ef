"""docs/own_data.md: every `seglab` command of its bash blocks runs on tiny synthetic folders, and the
walk-through's trained model recognises both classes (training shortened to 20 iterations)."""
from __future__ import annotations

import glob
import math
import re
import shlex
from pathlib import Path

import pytest
from _optional import require
from own_data_folders import make_cells, make_fields, make_scenes, per_class_iou

from seglab.cli import main

DOC = Path(__file__).parents[3] / "docs" / "own_data.md"
README = Path(__file__).parents[3] / "README.md"
SHORT = ["--cfg-options", "train_cfg.max_iters=20", "--device", "cpu"]  # the only change to the doc's commands


def doc_commands(text: str) -> list[str]:
    """The ``seglab ...`` lines of the ```bash blocks, in order."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith("seglab ")]


def test_doc_commands_run_and_grayscale_0_255_cells_learn_both_classes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    require("tifffile")
    commands = doc_commands(DOC.read_text())
    assert len(commands) == 12 and commands[0] == "seglab new-config data/cells/images data/cells/masks --out cells.py"
    assert "docs/own_data.md" in README.read_text()
    monkeypatch.chdir(tmp_path)
    make_cells(tmp_path / "data" / "cells")
    make_scenes(tmp_path / "data" / "scenes", n=4, size=24)
    make_fields(tmp_path / "data" / "fields", n=4, size=24)
    outputs = {}
    for command in commands:
        argv = shlex.split(command)[1:]
        argv = [m for a in argv for m in (sorted(glob.glob(a)) if "*" in a else [a])]
        if argv[0] in ("train", "test"):
            argv += SHORT[2:] if argv[0] == "test" else SHORT
        capsys.readouterr()
        assert main(argv) == 0, command
        outputs[command] = capsys.readouterr().out
    iou = per_class_iou(outputs["seglab test cells.py work_dirs/cells/best_mIoU_iter_*.pth"])
    assert sorted(iou) == ["background", "foreground"]
    assert all(not math.isnan(v) and v > 0 for v in iou.values()), iou
    assert (tmp_path / "data" / "cells" / "masks01" / "cell00.png").is_file()
    assert (tmp_path / "data" / "scenes" / "masks_index" / "palette.json").is_file()
    assert "in_channels=4," in (tmp_path / "fields.py").read_text()
    cells = (tmp_path / "cells.py").read_text()  # the config was used as written
    assert "label_map = {255: 1}" in cells and "color_type='grayscale'" in cells and "in_channels=1," in cells
