"""Export a segmentor to ONNX or TorchScript and check the exported model against PyTorch.

The exported graph takes the *normalised* image batch ``input`` (N, C, H, W) float32 (what the
model's data preprocessor produces: BGR->RGB if the config says so, ``(x - mean) / std``) and returns
MMDeploy's ``output``: the class labels (N, 1, H, W) int64 at the input size (``output='labels'``),
or the logits (N, num_classes, H, W) float32 (``output='logits'``). It is the whole-image inference
of ``test_cfg``; a sliding-window ``test_cfg`` is not part of the graph (export at the crop size and
slide outside it).

ONNX uses torch's TorchScript-based exporter (``dynamo=False``): it needs only the ``onnx`` package,
while the dynamo exporter needs ``onnxscript`` and re-traces differently on every torch release.
``nn.AdaptiveAvgPool2d`` with an output size other than 1 (PSPNet's pyramid pooling) has no ONNX
operator for input sizes that are not multiples of its bins, nor for symbolic sizes; during export it
is swapped for :class:`ExportableAdaptiveAvgPool2d`, the same bins written as two averaging matrix
products that ONNX runs at any input size (the check against PyTorch's own pooling below proves it).
"""
from __future__ import annotations

import copy
import io
import math
import os
import os.path as osp
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["ExportError", "ExportResult", "ExportableAdaptiveAvgPool2d", "SegmentorExport", "export_model",
           "second_shape"]

FORMATS = ("onnx", "torchscript")
OUTPUTS = ("labels", "logits")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}


class ExportError(RuntimeError):
    """The model cannot be exported as asked, or the exported model disagrees with PyTorch."""


class ExportableAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` as ``P_h @ x @ P_w^T`` with averaging matrices built from the input size.

    Bin ``i`` of ``o`` over ``n`` pixels spans ``[floor(i n / o), ceil((i + 1) n / o))``, as in PyTorch.
    The matrices come from ``arange`` on the traced size, so an ONNX graph with dynamic axes stays exact.
    """

    def __init__(self, output_size: int | Sequence[int | None]) -> None:
        super().__init__()
        self.output_size = output_size

    @staticmethod
    def _matrix(n: Any, bins: int, like: torch.Tensor) -> torch.Tensor:
        """(bins, n) rows averaging each bin's pixels; ``n`` is an int, or a 0-dim tensor while tracing."""
        idx = torch.arange(bins, device=like.device)
        start = torch.div(idx * n, bins, rounding_mode="floor")
        end = torch.div((idx + 1) * n + bins - 1, bins, rounding_mode="floor")
        pos = torch.arange(n, device=like.device)
        inside = (pos[None, :] >= start[:, None]) & (pos[None, :] < end[:, None])
        return inside.to(like.dtype) / (end - start)[:, None].to(like.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) -> (N, C, out_h, out_w)."""
        size = self.output_size
        out_h, out_w = (size, size) if isinstance(size, int) else tuple(size)
        h, w = x.shape[-2], x.shape[-1]
        out_h = h if out_h is None else out_h
        out_w = w if out_w is None else out_w
        rows = self._matrix(h, out_h, x)
        cols = self._matrix(w, out_w, x)
        return torch.matmul(torch.matmul(rows, x), cols.transpose(0, 1))


def _swap_adaptive_pools(module: nn.Module) -> int:
    """Replace every ``nn.AdaptiveAvgPool2d`` whose output is not 1x1 in ``module``; return how many."""
    swapped = 0
    for name, child in module.named_children():
        size = getattr(child, "output_size", None)
        if isinstance(child, nn.AdaptiveAvgPool2d) and size not in (1, (1, 1)):
            setattr(module, name, ExportableAdaptiveAvgPool2d(size))
            swapped += 1
        else:
            swapped += _swap_adaptive_pools(child)
    return swapped


def _sigmoid_threshold(segmentor: nn.Module) -> float:
    head = getattr(segmentor, "decode_head", None)
    head = head[-1] if isinstance(head, nn.ModuleList) else head
    threshold = getattr(head, "threshold", None)
    return 0.3 if threshold is None else float(threshold)  # MMSeg's default, as in postprocess_result


class SegmentorExport(nn.Module):
    """A segmentor's whole-image inference: input (N, C, H, W) -> labels (N, 1, H, W) int64 or logits."""

    def __init__(self, segmentor: nn.Module, output: str = "labels") -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ExportError(f"output must be one of {OUTPUTS}, got {output!r}")
        if not hasattr(segmentor, "encode_decode"):
            raise ExportError(f"{type(segmentor).__name__} has no encode_decode(); export needs a segmentor "
                              "such as EncoderDecoder (a TTA wrapper cannot be exported)")
        self.segmentor = segmentor
        self.output = output
        self.threshold = _sigmoid_threshold(segmentor)

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits (N, K, H, W) resized to the input size."""
        shape = inputs.shape[2:]
        metas = [dict(img_shape=shape, pad_shape=shape, ori_shape=shape)]
        return self.segmentor.encode_decode(inputs, metas)

    @staticmethod
    def labels_from(logits: torch.Tensor, threshold: float) -> torch.Tensor:
        """(N, 1, H, W) int64: argmax over K > 1 channels, ``sigmoid > threshold`` for one channel."""
        if logits.shape[1] == 1:
            return (logits.sigmoid() > threshold).to(torch.int64)
        return logits.argmax(dim=1, keepdim=True)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs: normalised (N, C, H, W) -> ``output``."""
        logits = self.logits(inputs)
        return logits if self.output == "logits" else self.labels_from(logits, self.threshold)


@dataclass
class ExportResult:
    """Where the model went and how far the exported model is from PyTorch at each checked shape."""

    path: str
    format: str
    output: str
    max_abs_diff: dict[tuple[int, ...], float] = field(default_factory=dict)
    label_mismatches: dict[tuple[int, ...], int] = field(default_factory=dict)
    swapped_pools: int = 0


def second_shape(h: int, w: int) -> tuple[int, int]:
    """Another input size to check a dynamic export at: about 1.5 x (H, W), rounded up to a multiple of 32."""
    return (math.ceil(h * 1.5 / 32) * 32, math.ceil(w * 1.25 / 32) * 32)


def _input_channels(model: nn.Module) -> int:
    prep = getattr(model, "data_preprocessor", None)
    mean = getattr(prep, "mean", None)
    if isinstance(mean, torch.Tensor) and mean.numel() > 1:
        return int(mean.numel())
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    return 3


def _export_onnx(wrapper: nn.Module, example: torch.Tensor, dynamic: bool, opset: int) -> bytes:
    try:
        import onnx  # noqa: F401 - torch's exporter needs it; fail here with the extra's name
    except ImportError as exc:
        raise ExportError("ONNX export needs the 'onnx' package: pip install 'seglab[export]'") from exc
    axes = {0: "batch", 2: "height", 3: "width"}
    buffer = io.BytesIO()
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        # nn.MultiheadAttention's eval fast path is one fused op (_native_multi_head_attention) that has
        # no ONNX symbolic; the regular path is the same attention in plain ops.
        torch.backends.mha.set_fastpath_enabled(False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings and the exporter's deprecation notice
            torch.onnx.export(wrapper, (example,), buffer, dynamo=False, opset_version=opset,
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": axes, "output": axes} if dynamic else None)
    except Exception as exc:  # the exporter raises many types; all mean "this graph does not export"
        hint = ""
        if "adaptive" in str(exc):
            hint = (" (a functional adaptive pooling with output size > 1: export without --dynamic at a "
                    "shape whose feature maps are multiples of the pool sizes)")
        raise ExportError(f"ONNX export failed{hint}: {str(exc).splitlines()[0]}") from exc
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return buffer.getvalue()


def _run_onnx(model_bytes: bytes, inputs: torch.Tensor) -> torch.Tensor:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ExportError("checking an ONNX export needs onnxruntime: pip install 'seglab[export]' "
                          "(or pass verify=False / --no-verify)") from exc
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = torch.get_num_threads()  # the thread budget the caller gave torch
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"input": inputs.numpy()})[0])


def _compare(result: ExportResult, shape: tuple[int, ...], got: torch.Tensor, logits: torch.Tensor,
             threshold: float, tolerance: float) -> None:
    """Check one exported output against PyTorch's logits; raise ExportError past ``tolerance``."""
    want = logits if result.output == "logits" else SegmentorExport.labels_from(logits, threshold)
    if tuple(got.shape) != tuple(want.shape):
        raise ExportError(f"exported model output shape {tuple(got.shape)} != PyTorch {tuple(want.shape)} at input "
                          f"{shape} (a size was fixed at export; export at this shape or without --dynamic)")
    if result.output == "logits":
        diff = (got.float() - want).abs().max().item()
        result.max_abs_diff[shape] = diff
        if not diff <= tolerance:
            raise ExportError(f"exported logits differ from PyTorch by {diff:.3g} > tolerance {tolerance:g} at input "
                              f"{shape}")
        return
    # Labels may only differ where PyTorch's two best classes are within the tolerance of each other.
    differ = got != want
    if logits.shape[1] > 1:
        top2 = logits.topk(2, dim=1).values
        tie = (top2[:, :1] - top2[:, 1:2]).abs() <= tolerance
    else:
        tie = (logits.sigmoid() - threshold).abs() <= tolerance
    bad = int((differ & ~tie).sum())
    result.label_mismatches[shape] = int(differ.sum())
    result.max_abs_diff[shape] = float((got - want).abs().max().item()) if differ.any() else 0.0
    if bad:
        raise ExportError(f"exported labels differ from PyTorch at {bad} pixels that are not ties at input {shape}")


def export_model(
    model: nn.Module,
    out_file: str,
    format: str = "onnx",  # noqa: A002 - the CLI's --format
    shape: tuple[int, int] = (512, 512),
    dynamic: bool = False,
    opset: int = 17,
    output: str = "labels",
    batch_size: int = 1,
    verify: bool = True,
    tolerance: float = 1e-4,
    seed: int = 0,
) -> ExportResult:
    """Export ``model`` (a segmentor in eval mode, on any device; exported from a CPU copy) to ``out_file``.

    The check feeds a seeded random (batch_size, C, H, W) input to PyTorch and to the exported model
    (onnxruntime for ONNX) and compares logits by max abs difference, labels pixel by pixel (a label
    may differ only where PyTorch's two best logits are within ``tolerance``). ``dynamic`` exports
    batch, height and width as dynamic axes and also checks at batch 2 and :func:`second_shape`.
    Raises :class:`ExportError` when the export fails or a check exceeds ``tolerance``.
    """
    if format not in FORMATS:
        raise ExportError(f"format must be one of {FORMATS}, got {format!r}")
    h, w = (int(s) for s in shape)
    model = model.eval()
    mode = (getattr(model, "test_cfg", None) or {}).get("mode", "whole")
    if mode != "whole":
        warnings.warn(f"test_cfg.mode={mode!r} is not exported: the graph runs whole-image inference at its input "
                      "size (export at test_cfg.crop_size and slide outside the model)", stacklevel=2)
    on_cpu = all(p.device.type == "cpu" for p in model.parameters())
    # The check runs PyTorch on the CPU too: a GPU reference (TF32 convolutions) would differ by more than 1e-4.
    reference = SegmentorExport(model if on_cpu else copy.deepcopy(model).cpu(), output="logits")
    traced_model = copy.deepcopy(model).cpu()
    # TorchScript runs aten's adaptive pooling at any size; only ONNX needs the matrix form.
    swapped = _swap_adaptive_pools(traced_model) if format == "onnx" else 0
    wrapper = SegmentorExport(traced_model, output=output).eval()
    generator = torch.Generator().manual_seed(seed)
    channels = _input_channels(model)
    example = torch.randn(batch_size, channels, h, w, generator=generator)

    result = ExportResult(path=out_file, format=format, output=output, swapped_pools=swapped)
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    with torch.no_grad():
        if format == "onnx":
            model_bytes = _export_onnx(wrapper, example, dynamic, opset)
            with open(out_file, "wb") as f:
                f.write(model_bytes)
            def run(x: torch.Tensor) -> torch.Tensor:
                return _run_onnx(model_bytes, x)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TracerWarnings: the check below is what counts
                traced = torch.jit.trace(wrapper, example, check_trace=False)
                traced.save(out_file)
                loaded = torch.jit.load(out_file)  # torch 2.13 marks TorchScript deprecated; it still runs
            def run(x: torch.Tensor) -> torch.Tensor:
                return loaded(x)
        if not verify:
            return result
        shapes = [(batch_size, channels, h, w)]
        if dynamic:
            shapes.append((2, channels, *second_shape(h, w)))
        for check_shape in shapes:
            x = torch.randn(*check_shape, generator=generator)
            logits = reference.logits(x).float()
            try:
                got = run(x)
            except Exception as exc:  # onnxruntime / TorchScript errors on a size baked in at export
                raise ExportError(f"the exported model fails at input {check_shape}: {str(exc).strip()[-300:]} "
                                  f"(a size was fixed when tracing at {tuple(example.shape)}: export without "
                                  "--dynamic at the size you will run)") from exc
            _compare(result, check_shape, got, logits, wrapper.threshold, tolerance)
    return result
