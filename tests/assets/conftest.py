"""Fixtures of the asset tests (the tiny experiment, `tiny_graph`, is the session's: tests/conftest.py)."""


import pytest
import torch


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """The assets set torch's thread count (compute.threads=1); give the rest of the suite back
    whatever it had."""
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)
