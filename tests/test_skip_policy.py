"""Skip policy: a test may only skip through tests/_optional.py (its documented list of reasons).

Any ``pytest.skip``, ``skipif``, ``importorskip``, ``xfail`` or ``unittest.skip`` written elsewhere fails
here, so a test cannot quietly stop checking anything.
"""
from __future__ import annotations

import ast
from pathlib import Path

import _optional
import pytest

TESTS = Path(__file__).resolve().parent
SKIPPERS = {"skip", "skipif", "importorskip", "xfail", "skipTest", "expectedFailure"}
ALLOWED = {TESTS / "_optional.py"}


def _skip_uses(path: Path) -> list[str]:
    uses = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
        if name in SKIPPERS:
            uses.append(f"{path.relative_to(TESTS)}:{node.lineno} {name}")
    return uses


def test_skips_only_go_through_the_documented_list():
    files = [p for p in TESTS.rglob("*.py") if p not in ALLOWED]
    assert len(files) > 100
    offenders = [use for p in files for use in _skip_uses(p)]
    assert not offenders, f"skip outside tests/_optional.py (use its require()/skip_reason()): {offenders}"


def test_unlisted_extra_or_reason_is_an_error():
    with pytest.raises(KeyError, match="not in tests/_optional.py OPTIONAL_EXTRAS"):
        _optional.require("some_random_package")
    with pytest.raises(KeyError, match="not in tests/_optional.py ENVIRONMENT_SKIPS"):
        _optional.skip_reason("because")
