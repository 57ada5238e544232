"""Shared fixtures: SIGINT as in a terminal, one torch thread for the whole suite, the tiny
experiment materialised once (for the asset tests and the UI tests), a local S3 server (moto) for
anything that reads or writes s3:// URLs, a writer for it, and flaky proxies in front of it."""

from __future__ import annotations

import signal
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch

from seeds_dag.verification.scoringrules_loader import load_scoringrules

# Before any test module imports scoringrules itself: loaded under the product's lock, so that the
# workers of `pytest -n 2` starting on a fresh install cannot both compile its gufuncs into
# numba's cache (see seeds_dag/verification/scoringrules_loader.py).
load_scoringrules()

# tests/assets/tiny_experiment.py, importable from every test package (pytest puts a test's own
# folder on sys.path only when it collects it).
sys.path.append(str(Path(__file__).parent / "assets"))

if TYPE_CHECKING:
    from tiny_experiment import TinyGraph


@pytest.fixture(autouse=True, scope="session")
def sigint_as_in_a_terminal():
    """The suite behaves the same however it is started. A shell without job control (a script's
    `cmd &`, nohup) starts it with SIGINT ignored, and every process it starts inherits that;
    Dagster then maps SIGTERM to SIGINT's handler, so SIGTERM is ignored too, in the test process
    and in the dask workers, also by the processes Dagster starts to capture a step's logs, which
    it then stops only through its timeouts (measured: 60.0 s between one step's end and the
    next's start; the dask backfill test ran past its limit). Python's own handler is put back,
    which a child, after exec, does not inherit as "ignore"."""
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    if previous[signal.SIGINT] == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if previous[signal.SIGTERM] == signal.SIG_IGN:  # Dagster ran before the session began
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for number, handler in previous.items():
        signal.signal(number, handler)


@pytest.fixture(autouse=True, scope="session")
def single_torch_thread():
    """Tests share 2 cores with whatever else runs; one thread keeps them fast and predictable
    (torch's two-thread team slows down many times over when the other core is busy)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_graph(tmp_path_factory: pytest.TempPathFactory) -> TinyGraph:
    """Every asset of the tiny experiment materialised once, in the main job's order (about a
    minute on one thread, so the session shares it: tests copy what they change)."""
    # Imported here: tiny_experiment loads the definitions (about 10 s), which most tests skip.
    from tiny_experiment import GRAPH_STEPS, TinyGraph, materialise

    root = tmp_path_factory.mktemp("tiny_graph").resolve()
    results = {(asset, partition): materialise(root, asset, partition)
               for asset, partition in GRAPH_STEPS}
    return TinyGraph(root=root, results=results)


@pytest.fixture
def s3_server(monkeypatch, tmp_path):
    """Endpoint URL of a moto S3 server on 127.0.0.1 (free port), empty at the start of the test.

    Only fake AWS credentials and config locations are set in the environment, through
    monkeypatch, so nothing can reach a real account; tests pass their own options to s3fs.
    """
    from moto.server import ThreadedMotoServer

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        yield endpoint
    finally:
        # moto keeps its state per process, not per server: reset it so no bucket outlives the test.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        server.stop()


@pytest.fixture
def s3_writer(s3_server):
    """An s3fs client of the moto server with the fake credentials; tests write through it, the
    code under test reads through its own."""
    import s3fs

    return s3fs.S3FileSystem(anon=False, client_kwargs={"endpoint_url": s3_server},
                             skip_instance_cache=True)


@pytest.fixture
def flaky_s3(s3_server):
    """Make a FaultProxy (tests/fault_proxy.py) in front of the moto server; all stop at teardown."""
    from fault_proxy import FaultProxy

    proxies = []

    def make(**settings):
        proxy = FaultProxy(s3_server, **settings).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()
        print(f"fault proxy: {proxy.requests} requests, {len(proxy.injected)} faults, "
              f"slowest answer {proxy.slowest_forward_s:.3f} s")
