"""A tiny experiment materialised once through the real Dagster definitions, shared by the asset
and UI tests (the session's `tiny_graph`, tests/conftest.py): the same `materialize` calls the
main job makes, on the embedded physics, into a temporary store root.

The tiny experiment (30-40 s on one CPU thread; its scores mean nothing):
  * spin-up 18 days with a pool of 3 days: the smallest that `runs.spin_up` accepts, since the
    source resource keeps PerturbationConfig's 15-day gap and pool_days + gap_days <= spinup_days;
  * 2 reforecast inits (5 members), leads of 1 and 2 days, 1 operational init of 6 members, and a
    nature run just long enough to verify it;
  * a 3-level network of widths (8, 16, 16), the default generator (edm, on trajectories), trained
    for 60 steps of 8 examples, as the emulator and as the post-processor (p = 1); 8 member
    trajectories of each sampled with 16 Heun steps in two batches of 4 members
    (tests/assets/test_generators.py trains the other generators).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    ExecuteInProcessResult,
    RunConfig,
    materialize,
)

from assets.definitions import assets_for
from assets.ensembles import EmulationConfig
from assets.main_job import operational_dates
from assets.training import EmulatorTrainingConfig, PostProcessorTrainingConfig
from resources import ComputeResource, SourceResource, StorageResource
from seeds_dag.store import POINTER, UNPARTITIONED, ArtifactStore
from seeds_dag.training import weight_decay_at

SOURCE_SETTINGS: dict[str, Any] = dict(
    spinup_days=18, pool_days=3, truth_days=6, lead_days=[1, 2], reforecast_members=5,
    operational_members=6, reforecast_start="2000-01-01", reforecast_end="2000-01-02", threads=1,
)
SOURCE = SourceResource(**SOURCE_SETTINGS)
COMPUTE = ComputeResource(device="cpu", threads=1, train_batch_size=8, sample_batch_size=4)
# At 10× the default learning rate, with the default's weight decay a step.
TINY_NETWORK: dict[str, Any] = dict(steps=60, learning_rate=3e-3, weight_decay=weight_decay_at(3e-3),
                                    channels=[8, 16, 16], embed_dim=16, checkpoint_every=30)
TRAINING = EmulatorTrainingConfig(**TINY_NETWORK)
POST_PROCESSING = PostProcessorTrainingConfig(**TINY_NETWORK, truth_probability=1.0)
N_EMULATED = 8
EMULATION = EmulationConfig(n_members=N_EMULATED)
OP_CONFIGS = {"trained_emulator": TRAINING, "post_processor": POST_PROCESSING,
              "daily_emulated_ensembles": EMULATION}

REFORECAST_INITS = SOURCE.reforecast_dates()
OPERATIONAL_INIT = operational_dates(SOURCE, 1)[0]

# (asset, partition) in the order the main job materialises them.
GRAPH_STEPS: list[tuple[str, str | None]] = [
    ("physics_spinup", None),
    ("truth", None),
    *[("reforecast_shards", key) for key in REFORECAST_INITS],
    ("normalization_stats", None),
    ("climatology", None),
    ("trained_emulator", None),
    ("post_processor", None),
    ("operational_ensemble", OPERATIONAL_INIT),
    ("daily_emulated_ensembles", OPERATIONAL_INIT),
    ("verification_scores", OPERATIONAL_INIT),
    ("verification_summary", None),
    ("verification_report", None),
]


def tiny_source(**changes: Any) -> SourceResource:
    """The tiny experiment's source resource with some settings changed."""
    return SourceResource(**{**SOURCE_SETTINGS, **changes})


_INSTANCES: dict[Path, DagsterInstance] = {}


def instance_for(root: Path) -> DagsterInstance:
    """The Dagster instance recording the materialisations into the store at `root` (one per
    root, in memory), as a deployment has one instance beside its storage."""
    return _INSTANCES.setdefault(Path(root).resolve(), DagsterInstance.ephemeral())


def record_materialised(root: Path, asset: str, partitions: list[str | None]) -> None:
    """Record materialisations of artifacts written into `root` by hand (or copied there), as a
    run would have, so that assets pooling what Dagster recorded see them."""
    instance = instance_for(root)
    for partition in partitions:
        instance.report_runless_asset_event(AssetMaterialization(asset, partition=partition))


def materialise(root: Path, asset: str, partition: str | None = None, *,
                source: SourceResource = SOURCE, compute: ComputeResource = COMPUTE,
                config: Any = None, calendar: SourceResource | None = None) -> ExecuteInProcessResult:
    """Materialise one asset (one partition) of the real definitions, with the partitions of
    `source`'s calendar (or `calendar`'s, as when run config changes the source's settings),
    into the store at `root`, recorded in `instance_for(root)`. `config` replaces the tiny op config of trained_emulator /
    daily_emulated_ensembles. Errors raised by the asset body propagate as themselves."""
    op_config = config if config is not None else OP_CONFIGS.get(asset)
    return materialize(
        assets_for(calendar or source), selection=[asset], partition_key=partition,
        resources={"storage": StorageResource(root=str(root)), "compute": compute,
                   "source": source},
        run_config=RunConfig(ops={asset: op_config} if op_config is not None else {}),
        instance=instance_for(root),
    )


def materialization(result: ExecuteInProcessResult, asset: str) -> AssetMaterialization:
    """The one materialisation of `asset` in `result`, as the run recorded it."""
    events = [e for e in result.get_asset_materialization_events()
              if e.asset_key == AssetKey(asset)]
    assert len(events) == 1, f"{asset}: {len(events)} materialisation events, expected 1"
    return events[0].materialization


def metadata(result: ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """Plain values of the metadata of the one materialisation of `asset` in `result`."""
    return {name: value.value for name, value in materialization(result, asset).metadata.items()}


def partition_dir(root: Path, asset: str, partition: str | None) -> Path:
    return root / asset / (partition or UNPARTITIONED)


def current_version(root: Path, asset: str, partition: str | None) -> str:
    """Text of the CURRENT pointer of a dataset artifact."""
    return (partition_dir(root, asset, partition) / POINTER).read_text()


def directory_listing(root: Path, asset: str, partition: str | None) -> list[str]:
    return sorted(p.name for p in partition_dir(root, asset, partition).iterdir())


def copy_artifacts(source_root: Path, target_root: Path, assets: list[str]) -> None:
    """Copy committed artifacts of some assets into another store root (the layout is plain
    files, so a copy is a valid store)."""
    for asset in assets:
        shutil.copytree(source_root / asset, target_root / asset)


@dataclasses.dataclass
class TinyGraph:
    """The tiny experiment, materialised: the store root and the result of every step."""

    root: Path
    results: dict[tuple[str, str | None], ExecuteInProcessResult]

    @property
    def store(self) -> ArtifactStore:
        return ArtifactStore(str(self.root))

    def metadata(self, asset: str, partition: str | None = None) -> dict[str, Any]:
        return metadata(self.results[(asset, partition)], asset)
