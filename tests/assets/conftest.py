"""Fixtures of the asset tests: the tiny experiment (see `tiny_experiment`) materialised once."""


import pytest
import torch


from tiny_experiment import GRAPH_STEPS, TinyGraph, materialise  # noqa: E402


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """The assets set torch's thread count (compute.threads=1); give the rest of the suite back
    whatever it had."""
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="package")
def tiny_graph(tmp_path_factory: pytest.TempPathFactory) -> TinyGraph:
    """Every asset of the graph materialised once, in the main job's order."""
    root = tmp_path_factory.mktemp("tiny_graph").resolve()
    results = {(asset, partition): materialise(root, asset, partition)
               for asset, partition in GRAPH_STEPS}
    return TinyGraph(root=root, results=results)
