"""Scores computed on a dask worker that runs two steps at once, one per thread, equal a
single-process run's bit for bit: nothing the scoring draws from or sets is shared between
threads (numpy's global random generator, which once broke the rank histograms' ties, is not
thread-safe). On the hand-made store of test_verification_assets, with ties to break."""

import threading

import distributed
import numpy as np
from test_verification_assets import INITS, N_EMULATED, N_PHYSICS, make_store, materialise
from test_verification_commits import EMULATED, INPUTS, stored
from tiny_experiment import copy_artifacts

from assets.verification import SCORES
from seeds_dag.store import ArtifactStore

# Each scoring task waits here for the other. Module-level: dask pickles a task's arguments even
# for a worker in this process, and a lock cannot be pickled (this module's are looked up by name).
BOTH_STARTED = threading.Barrier(len(INITS), timeout=60)


def with_ties(store: ArtifactStore, key: str) -> None:
    """Make emulated member m of init `key` a copy of physics member m mod N_PHYSICS: in the
    perfect-model scores a physics member playing the truth then equals emulated members at every
    grid point, so the rank histograms break ties by random draws (noise alone never ties)."""
    physics = store.load_dataset("operational_ensemble", key)
    emulated = store.load_dataset(EMULATED, key)
    copies = physics.isel(member=np.arange(N_EMULATED) % N_PHYSICS).assign_coords(
        member=emulated["member"])
    store.write_dataset(copies.expand_dims(model=emulated["model"].values)
                        .assign_attrs(emulated.attrs), EMULATED, key)


def score_beside_the_other(root, key: str) -> int:
    """Score init `key` once the other task has started too (so the two overlap on the worker's two
    threads); returns the thread it ran on."""
    BOTH_STARTED.wait()
    materialise(root, SCORES, key)
    return threading.get_ident()


def test_scores_on_a_threaded_dask_worker_equal_a_single_process_run(tmp_path):
    sequential, threaded = tmp_path / "sequential", tmp_path / "threaded"
    reference = make_store(sequential, ["gee", "gpp"])
    for key in INITS:
        with_ties(reference, key)
    copy_artifacts(sequential, threaded, INPUTS)
    for key in INITS:
        materialise(sequential, SCORES, key)
    with (distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                   dashboard_address=None) as cluster,
          distributed.Client(cluster) as client):
        threads = client.gather([client.submit(score_beside_the_other, threaded, key, pure=False)
                                 for key in INITS])
    assert len(set(threads)) == len(INITS)
    for key in INITS:
        assert stored(ArtifactStore(str(threaded)), SCORES, key) == stored(reference, SCORES, key), key
