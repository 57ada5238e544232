"""Shared fixtures of the embedded-source tests: one thread for torch, models built once."""

import pytest
import torch

from seeds_dag.sources.embedded.config import ENSEMBLE_MODEL, TRUTH_MODEL
from seeds_dag.sources.embedded.dycore import Dycore


@pytest.fixture(autouse=True, scope="session")
def single_torch_thread():
    """The dycore runs on 2 shared cores; one thread keeps timings stable and tests fast."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def truth_model() -> Dycore:
    return Dycore(TRUTH_MODEL)


@pytest.fixture(scope="session")
def ensemble_model() -> Dycore:
    return Dycore(ENSEMBLE_MODEL)
