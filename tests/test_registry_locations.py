"""Registries fill themselves: in a fresh interpreter the first lookup imports the defining package.

Each case runs ``from seglab.registry import X`` in a new Python process (nothing else imported),
builds one representative type with minimal arguments, then lists every name in ``X`` and resolves
each with ``X.get``. The names must equal those of this (fully imported) test process, so a module
that registers into ``X`` but is missing from ``X.locations`` fails here.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import seglab.datasets
import seglab.engine
import seglab.evaluation
import seglab.models
import seglab.visualization  # noqa: F401 - the reference: every package imported
from seglab import registry
from seglab.registry import ConfigError, Registry

# Registry -> a statement building one representative type with minimal arguments (as ``obj``).
_SGD = "dict(type='SGD', params=[torch.nn.Parameter(torch.zeros(1))], lr=0.1)"
BUILDS = {
    "MODELS": "obj = X.build(dict(type='EncoderDecoder', backbone=dict(type='ResNetV1c', depth=18, base_channels=4, "
              "stem_channels=4), decode_head=dict(type='FCNHead', in_channels=32, channels=4, num_classes=3)))",
    "DATASETS": "obj = X.build(dict(type='BaseSegDataset', lazy_init=True))",
    "TRANSFORMS": "obj = X.build(dict(type='RandomFlip', prob=0.5))",
    "METRICS": "obj = X.build(dict(type='IoUMetric'))",
    "HOOKS": "obj = X.build(dict(type='IterTimerHook'))",
    "OPTIMIZERS": f"obj = X.build({_SGD})",
    "OPTIM_WRAPPERS": f"obj = X.build(dict(type='OptimWrapper', optimizer=torch.optim.SGD({_SGD}['params'], lr=0.1)))",
    "OPTIM_WRAPPER_CONSTRUCTORS": "obj = X.build(dict(type='DefaultOptimWrapperConstructor', "
                                  "optim_wrapper_cfg=dict(optimizer=dict(type='SGD', lr=0.1))))",
    "PARAM_SCHEDULERS": "obj = X.build(dict(type='ConstantLR', optimizer=torch.optim.SGD([torch.nn.Parameter("
                        "torch.zeros(1))], lr=0.1)))",
    "LOOPS": "obj = X.get('ValLoop')",  # a loop needs a runner; resolving the class is the lookup under test
    "DATA_SAMPLERS": "obj = X.build(dict(type='DefaultSampler', dataset=list(range(4)), shuffle=False))",
    "VISUALIZERS": "obj = X.build(dict(type='SegLocalVisualizer'))",
    "VISBACKENDS": "obj = X.build(dict(type='LocalVisBackend', save_dir='unused'))",
}
EXPECTED_TYPE = {"MODELS": "EncoderDecoder", "DATASETS": "BaseSegDataset", "TRANSFORMS": "RandomFlip",
                 "METRICS": "IoUMetric", "HOOKS": "IterTimerHook", "OPTIMIZERS": "SGD",
                 "OPTIM_WRAPPERS": "OptimWrapper", "OPTIM_WRAPPER_CONSTRUCTORS": "DefaultOptimWrapperConstructor",
                 "PARAM_SCHEDULERS": "ConstantLR", "LOOPS": "ValLoop", "DATA_SAMPLERS": "DefaultSampler",
                 "VISUALIZERS": "SegLocalVisualizer", "VISBACKENDS": "LocalVisBackend"}

_SCRIPT = """
import json, sys
from seglab.registry import {name} as X
assert not any(m == 'seglab.models' or m.startswith(('seglab.datasets', 'seglab.engine')) for m in sys.modules), \\
    'seglab.registry alone must import no component package'
import torch
{build}
names = sorted(X.keys())
assert all(X.get(n) is not None and n in X for n in names)
print(json.dumps(dict(built=type(obj).__name__ if not isinstance(obj, type) else obj.__name__, names=names)))
"""

def _package_names(reg: Registry) -> list[str]:
    """Names registered by seglab itself (other tests register toy types into the shared registries)."""
    return sorted(n for n, obj in reg.module_dict.items() if obj.__module__.split(".")[0] in ("seglab", "torch"))


REGISTRIES = sorted(n for n in registry.__all__ if isinstance(getattr(registry, n), Registry))


def test_every_registry_has_a_case_and_locations():
    assert sorted(BUILDS) == REGISTRIES
    for name in REGISTRIES:
        assert getattr(registry, name).locations, f"{name} names no locations"


@pytest.fixture(scope="module")
def fresh_runs() -> dict[str, subprocess.CompletedProcess]:
    """One fresh interpreter per registry, started together (each mostly waits on importing torch)."""
    procs = {name: subprocess.Popen([sys.executable, "-c", _SCRIPT.format(name=name, build=BUILDS[name])],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in REGISTRIES}
    runs = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        runs[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return runs


@pytest.mark.parametrize("name", REGISTRIES)
def test_fresh_interpreter_lookup_fills_the_registry(name: str, fresh_runs: dict):
    proc = fresh_runs[name]
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["built"] == EXPECTED_TYPE[name]
    expected = _package_names(getattr(registry, name))
    assert out["names"] == expected, f"missing after the lookup: {sorted(set(expected) - set(out['names']))}"


def test_lookup_imports_locations_once_and_guards_recursion(tmp_path, monkeypatch):
    pkg = tmp_path / "loc_pkg_xyz"
    pkg.mkdir()
    # The package looks itself up while being imported (an import cycle): that must not recurse.
    (pkg / "__init__.py").write_text(
        "import tests_registry_probe as probe\n"
        "from tests_registry_probe import REG\n"
        "probe.imports += 1\n"
        "assert 'Early' not in REG\n"
        "@REG.register_module()\n"
        "class Early:\n"
        "    def __init__(self, size: int = 1) -> None:\n"
        "        self.size = size\n"
    )
    reg = Registry("probe", locations=("loc_pkg_xyz",))
    probe = type(sys)("tests_registry_probe")
    probe.REG, probe.imports = reg, 0
    monkeypatch.setitem(sys.modules, "tests_registry_probe", probe)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "loc_pkg_xyz", raising=False)
    assert reg.build(dict(type="Early", size=3)).size == 3
    assert reg.keys() == ["Early"] and "Early" in reg and len(reg) == 1
    assert probe.imports == 1 and reg._imported
    with pytest.raises(ConfigError, match="unknown probe type 'Erly'; did you mean 'Early'"):
        reg.get("Erly")


def test_failed_location_import_is_reported_and_retried():
    reg = Registry("probe", locations=("no_such_seglab_location_xyz",))
    for _ in range(2):  # not marked as imported after a failure: the error comes again, not "unknown type"
        with pytest.raises(ModuleNotFoundError, match="no_such_seglab_location_xyz"):
            reg.get("Anything")
