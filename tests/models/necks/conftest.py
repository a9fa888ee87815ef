"""MMSeg head/neck reference cases (tests/data/heads): fixture ``ref`` (helpers) and, for a test
module defining ``CASE_TYPE``, a ``case`` parameter over that type's case names."""
import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "data" / "heads" / "reference_cases.py"
_spec = importlib.util.spec_from_file_location("heads_reference_cases", _PATH)
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)


@pytest.fixture(scope="session")
def ref():
    return _helpers


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        names = _helpers.case_names(metafunc.module.CASE_TYPE)
        assert names, f"no reference cases for {metafunc.module.CASE_TYPE} in {_PATH.parent / 'cases.json'}"
        metafunc.parametrize("case", names)
