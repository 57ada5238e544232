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


@pytest.fixture(scope="package")
def fresh_code_locations(tmp_path_factory: pytest.TempPathFactory):
    """The loads of the definitions in fresh interpreters (fresh_code_locations.py), all started
    the first time a test asks for one."""
    from fresh_code_locations import SOURCE_SETTINGS_YAML, FreshCodeLocations, loads

    settings = tmp_path_factory.mktemp("fresh_code_locations") / "source.yaml"
    settings.write_text(SOURCE_SETTINGS_YAML)
    started = FreshCodeLocations(loads(settings))
    yield started
    started.stop()
