"""Suite-wide: this folder is on sys.path (pytest's rootdir conftest), so tests import ``_shared`` and
``_optional`` from any sub-folder."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test: on a busy 2-core machine, 2 threads make tiny models 10-100x slower.

    Use it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
