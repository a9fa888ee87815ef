"""One intra-op thread for these tiny tensors (threads only wait for each other on a loaded machine)."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
