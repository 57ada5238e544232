"""Shared fixtures of the embedded-source tests: models built once."""

import pytest

from seeds_dag.sources.embedded.config import ENSEMBLE_MODEL, TRUTH_MODEL
from seeds_dag.sources.embedded.dycore import Dycore


@pytest.fixture(scope="session")
def truth_model() -> Dycore:
    return Dycore(TRUTH_MODEL)


@pytest.fixture(scope="session")
def ensemble_model() -> Dycore:
    return Dycore(ENSEMBLE_MODEL)
