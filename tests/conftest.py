"""Suite-wide: this folder is on sys.path (pytest's rootdir conftest), so tests import ``_shared`` and
``_optional`` from any sub-folder."""
import pytest


@pytest.fixture
def single_thread():
    """One intra-op torch thread for the test (restored afterwards): tiny tensors gain nothing from threads,
    and on a loaded machine OpenMP workers waiting on each other make such tests many times slower."""
    import torch  # here, not at the top: collecting the suite must not need torch before it is asked for

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
