"""The stored ensemble is the same whatever the batch size of sampling: the asset's
`sample_batch_size` is a memory/speed setting, not a result setting (default generator and
sampler)."""

import numpy as np
from tiny_experiment import COMPUTE, OPERATIONAL_INIT, copy_artifacts, materialise

from assets.ensembles import EmulationConfig
from seeds_dag.conventions import VARIABLES
from seeds_dag.store import ArtifactStore

INPUTS = ["operational_ensemble", "normalization_stats", "trained_emulator", "post_processor"]
# Float32 rounding that depends on the batch's shape (convolution algorithms) may change the
# last bits of a member (measured on this CPU with one thread: none, the ensembles are equal
# bit for bit); what must not happen is a different member (another noise draw), a difference
# of the order of the spread.
TOLERANCE_OF_SPREAD = 1e-3


def test_changing_the_sample_batch_size_leaves_the_stored_ensemble_unchanged(tiny_graph, tmp_path):
    copy_artifacts(tiny_graph.root, tmp_path, INPUTS)
    config = EmulationConfig(n_members=6)  # the default sampler: 4 Heun steps, NFE 7
    stored = {}
    for batch in (6, 4, 1):
        compute = COMPUTE.model_copy(update={"sample_batch_size": batch})
        materialise(tmp_path, "daily_emulated_ensembles", OPERATIONAL_INIT, config=config,
                    compute=compute)
        stored[batch] = ArtifactStore(str(tmp_path)).load_dataset("daily_emulated_ensembles",
                                                                  OPERATIONAL_INIT)
    for name in VARIABLES:
        reference = stored[6][name]
        spread = float(reference.std("member").mean())
        for batch in (4, 1):
            difference = float(abs(stored[batch][name] - reference).max())
            assert difference <= TOLERANCE_OF_SPREAD * spread, (name, batch, difference / spread)
