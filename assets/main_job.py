"""The main job: materialise the whole asset graph on the embedded source and print the summary.

    python -m assets.main_job [--storage-root DIR] [--quick] [--verbose]

Runs through the same Dagster definitions the UI loads, recording every run in $DAGSTER_HOME
(default ./.dagster_home) so `dagster dev` shows their history, metadata and lineage afterwards.
The physics (spin-up, truth, and the forecasts of the reforecast and operational partitions,
two at a time) runs in `--lanes` worker processes of one thread each (see LANES); training and
the other steps run in this process with every thread. `--quick` is a smoke-test configuration
(a tiny experiment, minutes of training shortened to seconds): its scores mean nothing.
The console shows the timing table and the assets' own INFO lines (a few progress lines per
long stage, warnings); `--verbose` adds Dagster's DEBUG events (every step's start, inputs and
outputs: hundreds of lines).
"""

import argparse
import contextlib
import functools
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from dagster import DagsterInstance, RunConfig, materialize

from assets.definitions import assets_for
from assets.ensembles import EmulationConfig
from assets.main_job_plan import Step, main_job_steps
from assets.training import EmulatorTrainingConfig, PostProcessorTrainingConfig
from assets.partitions import operational_inits
from assets.object_names import HEADLINE_TEXT, REPORT_PAGE, SUMMARY_TEXT
from assets.report import REPORT
from assets.verification import SUMMARY
from resources import ComputeResource, SourceResource, StorageResource
from resources.storage import DEFAULT_ROOT, ROOT_ENV_VAR
from seeds_dag.generators.kinds import GENERATORS
from seeds_dag.generators.recipes import DEFAULT_GENERATOR, POST_PROCESSOR_GENERATOR

DEFAULT_OPERATIONAL_INITS = 3
LANES = 2
"""Worker processes for the physics. One init's forecast integrates 5 or 31 members,
too small a batch for a second thread to help much (measured on 2 cores, a model day of 5
members: 1.21 s with one thread, 1.33 s with two; of 31: 6.4 s and 5.2 s), so two one-thread
processes forecast two inits at once at nearly twice the rate. Training, whose convolutions use
both threads (1.85× faster), stays in the main process."""


def _quick_settings() -> tuple[SourceResource, dict, EmulationConfig]:
    source = SourceResource(spinup_days=30, pool_days=6, truth_days=22, lead_days=[1, 3],
                            operational_members=8, reforecast_end="2000-01-04")
    tiny = {"steps": 300, "channels": [16, 32, 32], "embed_dim": 32, "checkpoint_every": 100}
    training = {"trained_emulator": EmulatorTrainingConfig(**tiny),
                "post_processor": PostProcessorTrainingConfig(**tiny)}
    return source, training, EmulationConfig(n_members=8)


def operational_dates(source: SourceResource, count: int) -> list[str]:
    """The first `count` operational inits of `source`'s calendar (`operational_inits`: after the
    training window, verified by the truth)."""
    dates = operational_inits(source).get_partition_keys()[:count]
    if len(dates) < count:
        raise ValueError(f"truth_days={source.truth_days} is too short to verify {count} "
                         f"operational inits from {source.first_operational_date():%Y-%m-%d}")
    return dates


def console_logger_config(log_level: str) -> dict:
    """Run config of Dagster's default console logger printing records from `log_level` up. The
    engine's events (step started, output handled, …) are DEBUG, the assets' `context.log.info`
    lines INFO: at "INFO" the console keeps the assets' progress and warnings only."""
    return {"console": {"config": {"log_level": log_level}}}


@functools.cache
def _instance() -> DagsterInstance:
    """This process's Dagster instance ($DAGSTER_HOME, which worker processes inherit)."""
    return DagsterInstance.get()


def dagster_home(default: Path) -> Path:
    """$DAGSTER_HOME, set to `default` (resolved) where unset, created with a dagster.yaml of
    Dagster's default settings where it has none (without the file every process says so on the
    console)."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(default.resolve())))
    home.mkdir(parents=True, exist_ok=True)
    instance_config = home / "dagster.yaml"
    if not instance_config.exists():
        instance_config.write_text("# The Dagster instance of seeds-dag's main job: Dagster's default settings\n"
                                   "# (runs, events and logs stored in this folder).\n")
    return home


def materialize_one(name: str, partition_key: str | None, resources: dict,
                     op_configs: dict, log_level: str) -> float:
    """Materialise asset `name` (one partition) in this process, its console log from `log_level`
    up; returns its seconds. `resources` maps each resource key to (class, settings), rebuilt
    here: resources do not pickle across processes, their settings do."""
    start = time.perf_counter()
    built = {key: cls(**settings) for key, (cls, settings) in resources.items()}
    result = materialize(assets_for(built["source"]), selection=[name], partition_key=partition_key,
                         resources=built,
                         instance=_instance(),
                         run_config=RunConfig(ops={name: op_configs[name]} if name in op_configs else {},
                                              loggers=console_logger_config(log_level)),
                         tags={"seeds_dag/job": "main"})
    if not result.success:
        raise SystemExit(f"materialisation of {name} [{partition_key}] failed")
    return time.perf_counter() - start


def _physics_batches(steps: list[Step]) -> list[list[Step]]:
    """`steps` (physics, in graph order) as what runs at once: an unpartitioned asset alone, the
    partitions of consecutive partitioned assets together."""
    batches: list[list[Step]] = []
    for current in steps:
        if batches and current.partition is not None and batches[-1][-1].partition is not None:
            batches[-1].append(current)
        else:
            batches.append([current])
    return batches


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    """The main job with the command-line arguments `argv` (default: sys.argv[1:]); `seeds-dag run`
    hands its arguments here, under its own name `prog`."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--storage-root", default=os.environ.get(ROOT_ENV_VAR, DEFAULT_ROOT))
    parser.add_argument("--operational-inits", type=int, default=DEFAULT_OPERATIONAL_INITS)
    parser.add_argument("--quick", action="store_true", help="tiny smoke-test configuration")
    parser.add_argument("--lanes", type=int, default=LANES,
                        help="processes forecasting physics partitions at once (1: all in this process)")
    parser.add_argument("--generator", choices=GENERATORS, default=None,
                        help=f"the generator of both trained models (default: {DEFAULT_GENERATOR} for the "
                        f"emulator, {POST_PROCESSOR_GENERATOR} for the post-processor)")
    parser.add_argument("--verbose", action="store_true",
                        help="print Dagster's DEBUG events too (hundreds of lines), not only the assets' own")
    args = parser.parse_args(argv)
    log_level = "DEBUG" if args.verbose else "INFO"

    home = dagster_home(Path(".dagster_home"))
    if args.quick:
        source, training, emulation = _quick_settings()
    else:
        source, emulation = SourceResource(), EmulationConfig()
        training = {"trained_emulator": EmulatorTrainingConfig(),
                    "post_processor": PostProcessorTrainingConfig()}
    if args.generator:
        training = {name: config.model_copy(update={"generator": args.generator}) for name, config in training.items()}
    storage = StorageResource(root=args.storage_root)
    resources = {"storage": storage, "compute": ComputeResource(), "source": source}
    op_configs = {**training, "daily_emulated_ensembles": emulation}
    timings: dict[str, float] = {}
    settings = {key: (type(resource), resource.model_dump()) for key, resource in resources.items()}

    def step(name: str, partition_key: str | None = None) -> None:
        seconds = materialize_one(name, partition_key, settings, op_configs, log_level)
        timings[name] = timings.get(name, 0.0) + seconds
        print(f"  {name:<28} {partition_key or '':<11} {seconds:7.1f} s", flush=True)

    def physics(pool: ProcessPoolExecutor | None, label: str, jobs: list[tuple[str, str | None]]) -> None:
        """Materialise physics `jobs` (asset, partition) in the one-thread worker processes, all
        at once, their wall time timed as `label` (without workers: in this process, one after
        another, each timed as its asset)."""
        if pool is None:
            for name, key in jobs:
                step(name, key)
            return
        start = time.perf_counter()
        futures = [(name, key, pool.submit(materialize_one, name, key, one_thread, op_configs,
                                           log_level))
                   for name, key in jobs]
        for name, key, future in futures:
            print(f"  {name:<28} {key or '':<11} {future.result():7.1f} s (worker)", flush=True)
        timings[label] = time.perf_counter() - start
        if len(jobs) > 1:
            print(f"  {label + ', wall time':<40} {timings[label]:7.1f} s", flush=True)

    print(f"seeds-dag main job: storage {storage.store().root}, DAGSTER_HOME {home}")
    one_thread = {**settings, "source": (SourceResource, {**settings["source"][1], "threads": 1})}
    dates = operational_dates(source, args.operational_inits)
    reforecast = source.reforecast_dates()
    steps = main_job_steps(assets_for(source), dates, reforecast)
    # The physics lead the graph (they depend on nothing else) and run in the worker processes;
    # the rest in this process, training with both threads.
    leading = next((i for i, s in enumerate(steps) if not s.physics), len(steps))
    with contextlib.ExitStack() as stack:
        pool = None if args.lanes <= 1 else stack.enter_context(
            ProcessPoolExecutor(args.lanes, mp_context=multiprocessing.get_context("spawn")))
        # One member's spin-up and truth gain nothing from a second thread either (0.45 s a model
        # day with one, 0.50 with two), and one thread keeps them fast beside other load. The
        # forecasts of every init go at once, the 31-member operational ones first: the longest
        # jobs first balance the workers.
        for batch in _physics_batches(steps[:leading]):
            label = batch[0].asset if batch[0].partition is None else "physics forecasts"
            jobs = sorted(batch, key=lambda s: s.partition in reforecast)
            physics(pool, label, [(s.asset, s.partition) for s in jobs])
    for later in steps[leading:]:
        step(later.asset, later.partition)

    print("\nTime per stage (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    store = storage.store()
    print("\n" + store.read_bytes(SUMMARY, HEADLINE_TEXT).decode())
    print(f"\nThe whole summary (every score by variable and lead, the realism scorecard): "
          f"{store.location(SUMMARY)}/{SUMMARY_TEXT}\nThe report: {store.location(REPORT)}/{REPORT_PAGE}")


if __name__ == "__main__":
    main()
