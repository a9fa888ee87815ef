"""The user docs run: every `seglab` command in the ```bash blocks (and every ```python block) of
getting_started, configs, training, inference, serving and migrating; the README's quick start
command parses and names the checkpoint `seglab demo` writes.

The only changes to the docs' commands: a 2-iteration schedule (4 for `--resume`, which continues it)
and a tiny generated demo dataset (`--cfg-options`, SHORT below), `--device cpu`,
`work_dirs/demo/iter_2000.pth` read as the shortened demo's `iter_2.pth`, and `seglab serve` on a free
port (the `curl` lines go through http.client).
"""
from __future__ import annotations

import http.client
import io
import json
import os
import re
import shlex
import shutil
import socketserver
import uuid
from contextlib import redirect_stdout
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from seglab.apis import inference_model, init_model
from seglab.apis.server import SegServer
from seglab.cli import build_parser, main

REPO = Path(__file__).parents[2]
DOCS = REPO / "docs"
DOC_CKPT, RUN_CKPT = "work_dirs/demo/iter_2000.pth", "work_dirs/demo/iter_2.pth"
TINY_DATA = ["train_dataloader.batch_size=2"] + [
    f"{split}_dataloader.dataset.{key}={n}" for split in ("train", "val", "test")
    for key, n in (("num_train", 4), ("num_val", 2))]
SHORT = ["train_cfg.max_iters=2", "default_hooks.logger.interval=1", *TINY_DATA]
CONFIG = "configs/demo/fcn_demo_shapes.py"


def bash_commands(text: str) -> list[str]:
    """The ``seglab``/``curl`` lines of the ```bash blocks, in order."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines()
            if line.strip().startswith(("seglab ", "curl "))]


def python_blocks(text: str) -> list[str]:
    """The ```python blocks."""
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _argv(command: str) -> list[str]:
    argv = [RUN_CKPT if a == DOC_CKPT else a.replace(DOC_CKPT, RUN_CKPT) for a in shlex.split(command)[1:]]
    if argv[0] in ("train", "demo"):
        argv += ["--device", "cpu", "--cfg-options", *SHORT]
        if "--resume" in argv:  # as if the 2-iteration run had been stopped half way through 4
            argv.append("train_cfg.max_iters=4")
    elif argv[0] == "test":
        argv += ["--device", "cpu", "--cfg-options", *TINY_DATA]
    elif argv[0] == "confusion-matrix":
        argv += ["--cfg-options", *TINY_DATA]
    elif argv[0] in ("infer", "serve"):
        argv += ["--device", "cpu"]
    return argv


def run_seglab(command: str) -> str:
    """Run one doc command in this process; its stdout."""
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(_argv(command)) == 0, command
    return out.getvalue()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder with the repository's configs and the shortened demo's outputs, as the current directory."""
    root = tmp_path_factory.mktemp("docs")
    (root / "configs").symlink_to(REPO / "configs")
    previous = os.getcwd()
    os.chdir(root)
    torch.set_num_threads(1)
    try:
        run_seglab("seglab demo")  # getting_started.md's first command: data/demo_shapes, work_dirs/demo
        assert (root / RUN_CKPT).is_file()
        yield root
    finally:
        os.chdir(previous)


def _labels(path: str) -> np.ndarray:
    return cv2.imread(path, cv2.IMREAD_UNCHANGED)


def _curl(command: str, port: int) -> bytes:
    """One doc ``curl`` line (GET, ``--data-binary @FILE``, ``-F file=@FILE``, ``-o OUT``) via http.client."""
    args = shlex.split(command.replace("127.0.0.1:8000", f"127.0.0.1:{port}"))[1:]
    url = next(a for a in args if a.startswith("http://"))
    out = args[args.index("-o") + 1] if "-o" in args else None
    body, headers = None, {}
    if "--data-binary" in args:
        body = Path(args[args.index("--data-binary") + 1].removeprefix("@")).read_bytes()
    elif "-F" in args:
        field, file = args[args.index("-F") + 1].split("=@")
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{Path(file).name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n").encode() + Path(file).read_bytes() + \
            f"\r\n--{boundary}--\r\n".encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST" if body is not None else "GET", "/" + url.split("/", 3)[3], body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    assert response.status == 200, (command, data)
    if out:
        Path(out).write_bytes(data)
    return data


def run_serve(command: str, monkeypatch: pytest.MonkeyPatch, clients) -> None:
    """Run a doc ``seglab serve`` command on a free port; ``clients(port)`` runs while it serves."""
    serve_forever = socketserver.BaseServer.serve_forever  # the real one, also when already patched

    def serve_then_stop(server: SegServer, poll_interval: float = 0.5) -> None:
        import threading

        thread = threading.Thread(target=serve_forever, args=(server, 0.05), daemon=True)
        thread.start()
        try:
            clients(server.port)
        finally:
            server.shutdown()
            thread.join()

    monkeypatch.setattr(SegServer, "serve_forever", serve_then_stop)
    run_seglab(command + " --port 0")


def _check_infer_output(folder: str, image: str) -> None:
    model = init_model(CONFIG, RUN_CKPT)
    expected = inference_model(model, image).pred_sem_seg.data[0].numpy()
    name = Path(image).stem
    np.testing.assert_array_equal(_labels(f"{folder}/pred/{name}.png"), expected)
    assert _labels(f"{folder}/vis/{name}.png").shape == (*expected.shape, 3)


def test_getting_started(workspace, monkeypatch):
    commands = bash_commands((DOCS / "getting_started.md").read_text())
    assert commands[0] == "seglab demo"  # run by the fixture
    assert (workspace / "work_dirs" / "demo" / "overlays.png").is_file()
    served = []
    for command in commands[1:]:
        if command.startswith("seglab serve"):
            run_serve(command, monkeypatch, lambda port: served.append(_curl("curl http://127.0.0.1:8000/healthz", port)))
        else:
            run_seglab(command)
    assert served == [b'{"status": "ok"}']
    _check_infer_output("work_dirs/infer", "data/demo_shapes/img_dir/val/val_00000.png")


def test_configs(workspace):
    text = (DOCS / "configs.md").read_text()
    outputs = [run_seglab(c) for c in bash_commands(text)]
    assert len(outputs) == 2 and "num_classes=5" in outputs[0]
    assert "num_classes=7" in outputs[1] and "batch_size=4" in outputs[1]
    for block in python_blocks(text):
        exec(compile(block, "configs.md", "exec"), {})


def test_training(workspace):
    commands = bash_commands((DOCS / "training.md").read_text())
    assert [c.split()[1] for c in commands] == ["train", "train", "train", "test", "analyze-logs", "confusion-matrix"]
    outputs = [run_seglab(c) for c in commands]
    assert (workspace / "work_dirs" / "demo_run" / "iter_4.pth").is_file()  # resumed at 2, went on to 4
    assert (workspace / "work_dirs" / "demo_finetune" / "iter_2.pth").is_file()
    assert "mIoU" in outputs[3] and sorted(os.listdir("work_dirs/demo_preds")) == ["val_00000.png", "val_00001.png"]
    assert (workspace / "work_dirs" / "demo_run" / "curves.png").is_file()
    assert any(f.endswith(".csv") for f in os.listdir("work_dirs/demo_cm"))


def test_inference(workspace):
    text = (DOCS / "inference.md").read_text()
    for command in bash_commands(text):
        run_seglab(command)
    _check_infer_output("work_dirs/infer", "data/demo_shapes/img_dir/val/val_00000.png")
    _check_infer_output("work_dirs/infer_val", "data/demo_shapes/img_dir/val/val_00001.png")
    blocks = python_blocks(text)
    assert len(blocks) == 3
    for block in blocks:
        names: dict = {}
        exec(compile(block.replace(DOC_CKPT, RUN_CKPT), "inference.md", "exec"), names)
    assert type(names["model"].forward).__name__ == "CompiledForward"  # compile=True reached the model
    assert sorted(os.listdir("work_dirs/infer_py/pred")) == ["val_00000.png", "val_00001.png"]


def test_serving(workspace, monkeypatch):
    text = (DOCS / "serving.md").read_text()
    commands = bash_commands(text)
    serves = [c for c in commands if c.startswith("seglab serve")]
    curls = [c for c in commands if c.startswith("curl ")]
    assert len(serves) == 2 and len(curls) == 4
    (block,) = python_blocks(text)
    answers = {}

    def clients(port: int) -> None:
        answers["curl"] = [_curl(c, port) for c in curls]
        out = io.StringIO()
        with redirect_stdout(out):
            exec(compile(block.replace("127.0.0.1:8000", f"127.0.0.1:{port}"), "serving.md", "exec"), {})
        answers["python"] = out.getvalue()

    run_serve(serves[0], monkeypatch, clients)
    run_serve(serves[1], monkeypatch, lambda port: answers.setdefault("meta", json.loads(_curl(curls[1], port))))
    assert answers["meta"]["max_batch"] == 8 and answers["meta"]["max_pixels"] == 50000000
    assert answers["meta"]["max_upload_bytes"] == 50 << 20
    expected = inference_model(init_model(CONFIG, RUN_CKPT), "data/demo_shapes/img_dir/val/val_00000.png")
    expected = expected.pred_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(_labels("labels.png"), expected)  # written by the Python client (and curl)
    answer = json.loads(Path("answer.json").read_text())
    assert [a["name"] for a in answer["areas"]] == [line.split(":")[0] for line in answers["python"].splitlines()]


def test_migrating(workspace):
    from seglab.config import Config
    from seglab.datasets import ADE20KDataset
    from seglab.models.weight_init import without_pretrained
    from seglab.registry import MODELS

    commands = bash_commands((DOCS / "migrating.md").read_text())
    assert [c.split()[1] for c in commands] == ["infer", "test", "train"]
    config, ckpt = shlex.split(commands[0])[2:4]
    # A checkpoint in the zoo's 0.x format (meta.CLASSES/PALETTE, state_dict) under the zoo's file name.
    torch.manual_seed(0)
    model = MODELS.build(without_pretrained(Config.fromfile(config).to_dict()["model"]))
    meta = ADE20KDataset.METAINFO
    torch.save(dict(meta=dict(CLASSES=list(meta["classes"]), PALETTE=[list(c) for c in meta["palette"]]),
                    state_dict=model.state_dict()), ckpt)
    shutil.copy("data/demo_shapes/img_dir/val/val_00000.png", "demo.png")
    run_seglab(commands[0])
    loaded = init_model(config, ckpt)
    assert loaded.dataset_meta["classes"][:2] == ["wall", "building"]
    expected = inference_model(loaded, "demo.png").pred_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(_labels("work_dirs/segformer_demo/pred/demo.png"), expected)
    # test and train need ADE20K: their arguments parse and the config builds the model.
    for command in commands[1:]:
        args = build_parser().parse_args(_argv(command))
        assert args.config == config and Config.fromfile(args.config).model.type == "EncoderDecoder"
    assert build_parser().parse_args(_argv(commands[1])).checkpoint == ckpt


def test_readme_quick_start_is_a_real_command():
    readme = (REPO / "README.md").read_text()
    quick = readme[: readme.index("## Install by hand")]
    (command,) = [c for c in bash_commands(quick) if c.startswith("seglab infer")]
    args = build_parser().parse_args(shlex.split(command)[1:])
    max_iters = _max_iters(REPO / CONFIG)
    assert args.config == CONFIG and args.checkpoint == f"work_dirs/demo/iter_{max_iters}.pth"
    assert args.inputs[0].startswith("data/demo_shapes/img_dir/val/") and args.out_dir == "work_dirs/infer"
    image = re.search(r"!\[[^\]]*\]\((docs/images/quickstart_overlay\.png)\)", quick)
    assert image, "the quick start shows docs/images/quickstart_overlay.png"
    assert (REPO / image.group(1)).stat().st_size < 100_000
    for page in ("getting_started", "configs", "training", "inference", "serving", "migrating"):
        assert f"docs/{page}.md" in readme, page


def _max_iters(path: Path) -> int:
    from seglab.config import Config

    return Config.fromfile(str(path)).train_cfg.max_iters
