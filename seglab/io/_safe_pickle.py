"""A restricted reader for torch's zip checkpoint format that never calls code named by the file.

``torch.load(weights_only=True)`` refuses whole files that mention any unknown class, e.g. the
``mmengine.logging.HistoryBuffer`` objects MMSeg 1.x stores under ``message_hub``. This reader
resolves only a small allowlist of globals (tensor rebuild functions, OrderedDict, numpy scalars
and arrays, torch dtypes) to our own inert re-implementations; every other global becomes an
``Opaque`` placeholder that records its name and arguments and does nothing else. The caller then
keeps the parts it needs and refuses them if they still contain placeholders.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from typing import Any

import numpy as np
import torch

__all__ = ["Opaque", "find_opaque", "restricted_load"]

_STORAGE_DTYPES = {
    "DoubleStorage": torch.float64,
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128,
    "UntypedStorage": torch.uint8,
}


class Opaque:
    """Inert stand-in for a global the reader does not trust; records what the file asked for."""

    module: str = "?"
    name: str = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: Any = None
        self.items: list = []

    @classmethod
    def qualname(cls) -> str:
        """'module.name' of the global this placeholder replaces."""
        return f"{cls.module}.{cls.name}"

    # The pickle machine may BUILD, APPEND or SETITEM on the object; just record.
    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))

    def __repr__(self) -> str:
        return f"<unloaded {self.qualname()}>"


def _opaque_type(module: str, name: str) -> type[Opaque]:
    return type("Opaque", (Opaque,), {"module": module, "name": name})


class _StorageType:
    """What ``torch.FloatStorage`` & co. resolve to: only the element dtype."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


class _NumpyDtype:
    """Stand-in for ``numpy.dtype(code, align, copy)`` until BUILD gives the byte order."""

    def __init__(self, code: Any, align: Any = False, copy: Any = False) -> None:
        self.code = code if isinstance(code, str) else None
        self.byteorder = "="
        self.structured = False

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) > 3:
            self.byteorder = state[1] if state[1] in "<>=|" else "="
            self.structured = state[3] is not None

    def resolve(self) -> np.dtype | None:
        if self.code is None or self.structured:
            return None
        try:
            dtype = np.dtype(self.code)
        except TypeError:
            return None
        if dtype.kind == "O":  # object arrays would hold arbitrary pickled objects
            return None
        return dtype.newbyteorder(self.byteorder) if self.byteorder in "<>" else dtype


class _NumpyArray:
    """Stand-in for ``numpy.core.multiarray._reconstruct``; BUILD state carries shape, dtype and bytes."""

    def __init__(self, *args: Any) -> None:
        self.value: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            return
        _, shape, dtype, fortran, raw = state
        dt = dtype.resolve() if isinstance(dtype, _NumpyDtype) else None
        if dt is None or not isinstance(raw, (bytes, bytearray)):
            return
        arr = np.frombuffer(bytes(raw), dtype=dt)
        self.value = arr.reshape(shape, order="F" if fortran else "C").copy()


def _numpy_scalar(dtype: Any, raw: Any = None) -> Any:
    if isinstance(dtype, _NumpyDtype) and isinstance(raw, (bytes, bytearray)):
        dt = dtype.resolve()
        if dt is not None and dt.itemsize == len(raw):
            return np.frombuffer(bytes(raw), dtype=dt)[0].item()
    return _opaque_type("numpy", "scalar")(dtype, raw)


def _rebuild_tensor_v2(storage: Any, offset: int, size: tuple, stride: tuple, *unused: Any) -> torch.Tensor:
    if not isinstance(storage, torch.Tensor):
        raise pickle.UnpicklingError("tensor record without storage")
    return storage.as_strided(tuple(size), tuple(stride), int(offset))


def _rebuild_parameter(data: Any, *unused: Any) -> Any:
    return data  # a Parameter's values are all a state dict needs


def _codecs_encode(text: Any, encoding: str = "latin1") -> bytes:
    # Protocol-2 pickles spell bytes as _codecs.encode(str, 'latin1').
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("unexpected _codecs.encode call")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("_codecs", "encode"): _codecs_encode,
    ("torch", "Size"): torch.Size,
    ("numpy", "dtype"): _NumpyDtype,
    ("numpy", "ndarray"): _NumpyArray,
}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_mod, "scalar")] = _numpy_scalar
    _ALLOWED[(_mod, "_reconstruct")] = _NumpyArray


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, storages: dict[str, bytes], big_endian: bool) -> None:
        super().__init__(file)
        self._storages = storages
        self._big_endian = big_endian
        self._cache: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)  # a dtype is a value, not code
        return _opaque_type(module, name)

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent record {pid!r:.80}")
        _, storage_type, key, _location, _numel = pid[:5]
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unsupported storage type in record {key!r}")
        dtype = storage_type.dtype
        cache_key = f"{key}:{dtype}"
        if cache_key not in self._cache:
            if key not in self._storages:
                raise pickle.UnpicklingError(f"storage record {key!r} is missing from the archive")
            raw = bytearray(self._storages[key])
            if self._big_endian and dtype.itemsize > 1:
                np_dtype = torch.empty((), dtype=dtype).numpy().dtype if dtype != torch.bfloat16 else None
                if np_dtype is None:
                    raise pickle.UnpicklingError("big-endian bfloat16 checkpoints are not supported")
                raw = bytearray(np.frombuffer(bytes(raw), dtype=np_dtype.newbyteorder(">")).astype(np_dtype).tobytes())
            # clone(): an aligned, writable copy independent of the zip bytes.
            data = torch.frombuffer(raw, dtype=torch.uint8).clone() if len(raw) else torch.empty(0, dtype=torch.uint8)
            self._cache[cache_key] = data.view(dtype)
        return self._cache[cache_key]


def restricted_load(path: str) -> Any:
    """Unpickle a torch zip checkpoint with the allowlist above; unknown globals become ``Opaque``."""
    if not zipfile.is_zipfile(path):
        raise pickle.UnpicklingError(
            f"{path} is not in torch's zip format (saved by torch < 1.6?); re-save it with a trusted "
            "torch.load(..., weights_only=False) + torch.save in an environment you trust"
        )
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise pickle.UnpicklingError(f"{path}: expected one '<name>/data.pkl' record, found {pkl}")
        prefix = pkl[0][: -len("data.pkl")]
        storages = {n[len(prefix) + 5 :]: zf.read(n) for n in names if n.startswith(prefix + "data/")}
        big_endian = f"{prefix}byteorder" in names and zf.read(f"{prefix}byteorder").strip() == b"big"
        payload = zf.read(pkl[0])
    return _finalize(_RestrictedUnpickler(io.BytesIO(payload), storages, big_endian).load())


def _finalize(obj: Any) -> Any:
    """Replace numpy stand-ins by plain Python values (lists/numbers) recursively."""
    if isinstance(obj, _NumpyArray):
        return obj.value.tolist() if obj.value is not None else _opaque_type("numpy", "ndarray")()
    if isinstance(obj, _NumpyDtype):
        return str(obj.resolve())
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
        for k, v in obj.items():
            out[_finalize(k) if isinstance(k, (_NumpyArray, _NumpyDtype)) else k] = _finalize(v)
        if isinstance(obj, collections.OrderedDict) and hasattr(obj, "_metadata"):
            out._metadata = obj._metadata  # type: ignore[attr-defined]
        return out
    if isinstance(obj, list):
        return [_finalize(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_finalize(v) for v in obj)
    return obj


def _is_opaque(obj: Any) -> bool:
    return isinstance(obj, Opaque) or (isinstance(obj, type) and issubclass(obj, Opaque))


def find_opaque(obj: Any, path: str = "") -> list[str]:
    """Return 'path: module.name' for every placeholder inside ``obj``."""
    if _is_opaque(obj):
        return [f"{path or '<root>'}: {obj.qualname()}"]
    found: list[str] = []
    if isinstance(obj, (_NumpyArray, _NumpyDtype, _StorageType)):
        return [f"{path or '<root>'}: unresolved numpy/storage record"]
    if isinstance(obj, dict):
        for k, v in obj.items():
            found += find_opaque(k, path)
            found += find_opaque(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for i, v in enumerate(obj):
            found += find_opaque(v, f"{path}[{i}]")
    return found


def scrub(obj: Any) -> Any:
    """Return ``obj`` with every placeholder replaced by None (for metadata)."""
    if _is_opaque(obj):
        return None
    if isinstance(obj, dict):
        return {k: scrub(v) for k, v in obj.items() if not _is_opaque(k)}
    if isinstance(obj, list):
        return [scrub(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(scrub(v) for v in obj)
    return obj
