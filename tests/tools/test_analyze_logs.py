"""seglab analyze-logs: curves of the requested keys from scalars.json, one panel each."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from seglab.cli import main
from seglab.tools.analyze_logs import read_curves


def _write_run(path, records):
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_analyze_logs_writes_a_panel_per_key(tmp_path, capsys):
    run1 = tmp_path / "20260101_000000" / "vis_data" / "scalars.json"
    run2 = tmp_path / "20260101_010000" / "vis_data" / "scalars.json"
    _write_run(run1, [{"loss": 2.0, "lr": 0.01, "step": 1}, {"loss": 1.5, "step": 2}, {"mIoU": 10.0, "step": 2}])
    _write_run(run2, [{"loss": 1.4, "step": 2}, {"loss": 0.5, "step": 3}, {"mIoU": 30.0, "step": 3}])
    curves = read_curves([str(run1), str(run2)], ["loss", "mIoU"])
    assert curves["loss"] == ([1.0, 2.0, 3.0], [2.0, 1.4, 0.5])  # the resumed run replaces step 2
    assert curves["mIoU"] == ([2.0, 3.0], [10.0, 30.0])
    out_png = tmp_path / "curves.png"
    assert main(["analyze-logs", str(tmp_path), "--keys", "loss", "mIoU", "--out", str(out_png),
                 "--width", "640", "--panel-height", "240"]) == 0
    image = cv2.imread(str(out_png))
    assert image.shape == (480, 640, 3)
    assert not np.array_equal(image[:240], image[240:])  # the two curves differ
    out = capsys.readouterr().out
    assert "loss: 3 points" in out and "last 0.5" in out and "mIoU: 2 points" in out


def test_missing_key_names_the_available_ones(tmp_path):
    _write_run(tmp_path / "r" / "scalars.json", [{"loss": 1.0, "step": 1}])
    with pytest.raises(SystemExit, match="keys there: \\['loss'\\]"):
        main(["analyze-logs", str(tmp_path), "--keys", "mIoU"])
