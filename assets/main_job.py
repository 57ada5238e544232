"""The main job: materialise the whole asset graph on the embedded source and print the summary.

    python -m assets.main_job [--storage-root DIR] [--quick]

Runs through the same Dagster definitions the UI loads, in this process (2 cores are best used
sequentially), recording every run in $DAGSTER_HOME (default ./.dagster_home) so `dagster dev`
shows their history, metadata and lineage afterwards. `--quick` is a smoke-test configuration
(a tiny experiment, minutes of training shortened to seconds): its scores mean nothing.
"""

import argparse
import os
import time
from pathlib import Path

import pandas as pd
from dagster import DagsterInstance, RunConfig, materialize

from assets.definitions import ALL_ASSETS
from assets.ensembles import EmulationConfig
from assets.models import EmulatorTrainingConfig, PostProcessorTrainingConfig
from resources import ComputeResource, SourceResource, StorageResource
from resources.storage import DEFAULT_ROOT, ROOT_ENV_VAR

DEFAULT_OPERATIONAL_INITS = 3


def _quick_settings() -> tuple[SourceResource, dict, EmulationConfig]:
    source = SourceResource(spinup_days=30, pool_days=6, truth_days=22, lead_days=[1, 3],
                            operational_members=8, reforecast_end="2000-01-04")
    tiny = {"steps": 300, "channels": [16, 32, 32], "embed_dim": 32, "checkpoint_every": 100}
    training = {"trained_emulator": EmulatorTrainingConfig(**tiny),
                "post_processor": PostProcessorTrainingConfig(**tiny)}
    return source, training, EmulationConfig(n_members=8)


def operational_dates(source: SourceResource, count: int) -> list[str]:
    """The first `count` init dates after the training window whose forecasts the truth covers."""
    first = pd.Timestamp(source.reforecast_end) + pd.Timedelta(days=max(source.lead_days) + 1)
    last_valid = pd.Timestamp(source.start_date) + pd.Timedelta(days=source.truth_days)
    dates = pd.date_range(first, periods=count, freq="D")
    if dates[-1] + pd.Timedelta(days=max(source.lead_days)) > last_valid:
        raise ValueError(f"truth_days={source.truth_days} is too short to verify {count} "
                         f"operational inits from {first:%Y-%m-%d}")
    return [d.strftime("%Y-%m-%d") for d in dates]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage-root", default=os.environ.get(ROOT_ENV_VAR, DEFAULT_ROOT))
    parser.add_argument("--operational-inits", type=int, default=DEFAULT_OPERATIONAL_INITS)
    parser.add_argument("--quick", action="store_true", help="tiny smoke-test configuration")
    args = parser.parse_args()

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    if args.quick:
        source, training, emulation = _quick_settings()
    else:
        source, emulation = SourceResource(), EmulationConfig()
        training = {"trained_emulator": EmulatorTrainingConfig(),
                    "post_processor": PostProcessorTrainingConfig()}
    storage = StorageResource(root=args.storage_root)
    resources = {"storage": storage, "compute": ComputeResource(), "source": source}
    op_configs = {**training, "daily_emulated_ensembles": emulation}
    instance = DagsterInstance.get()
    timings: dict[str, float] = {}

    def step(name: str, selection: list[str], partition_key: str | None = None) -> None:
        start = time.perf_counter()
        result = materialize(ALL_ASSETS, selection=selection, partition_key=partition_key,
                             resources=resources, instance=instance,
                             run_config=RunConfig(ops={name: op_configs[name] for name in selection
                                                       if name in op_configs}),
                             tags={"seeds_dag/job": "main"})
        if not result.success:
            raise SystemExit(f"materialisation of {selection} [{partition_key}] failed")
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start
        print(f"  {name:<28} {partition_key or '':<11} {time.perf_counter() - start:7.1f} s",
              flush=True)

    print(f"seeds-dag main job: storage {storage.store().root}, DAGSTER_HOME {home}")
    step("physics_spinup", ["physics_spinup"])
    step("truth", ["truth"])
    for key in source.reforecast_dates():
        step("reforecast_shards", ["reforecast_shards"], key)
    step("normalization_stats", ["normalization_stats"])
    step("trained_emulator", ["trained_emulator"])
    step("post_processor", ["post_processor"])
    for key in operational_dates(source, args.operational_inits):
        step("operational_ensemble", ["operational_ensemble"], key)
        step("daily_emulated_ensembles", ["daily_emulated_ensembles"], key)
        step("verification_scores", ["verification_scores"], key)
    step("verification_summary", ["verification_summary"])
    step("verification_report", ["verification_report"])

    print("\nTime per stage (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    summary = storage.store().read_bytes("verification_summary", "summary.txt").decode()
    print("\nVerification summary (averaged over the operational inits)\n")
    print(summary)


if __name__ == "__main__":
    main()
