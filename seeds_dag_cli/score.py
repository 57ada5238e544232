"""Score an emulated ensemble against a truth: the verification tables of its init, the summary and
the HTML report, made by the pipeline's own verification assets (`verification_scores`,
`verification_summary`, `verification_report`) materialised into OUT, so they are the tables and
report the main job makes.

What a user gives, and why:
  --ensemble     the emulated ensemble, as `seeds-dag emulate` or the daily_emulated_ensembles asset
                 writes it: its provenance names the seed members (required).
  --forecast     the physics ensemble it was emulated from: its seed members are the seeds'
                 ensemble, its members the reference and, in turn, the perfect-model truths
                 (required).
  --truth        the verifying fields, dims (time, lat, lon), at every valid time (required).
  --climatology  the 1/5/95/99 % quantiles the extremes are judged by, as the climatology asset
                 stores them (optional; default: computed from the whole --truth, which should span
                 at least 30 days for the tails to mean much).
The inputs are copied into OUT as the pipeline's artifacts (operational_ensemble[init],
daily_emulated_ensembles[init], truth, climatology), so OUT must be a storage root of its own.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import xarray as xr

from assets.climatology import CLIMATOLOGY
from assets.model_files import EMULATOR, MODEL
from assets.object_names import HEADLINE_TEXT, REPORT, REPORT_PAGE, SUMMARY_TEXT
from resources import ComputeResource, SourceResource, StorageResource
from seeds_dag.conventions import FORECAST_DIMS, INIT, LAT, LEAD, LON, TIME, VARIABLES, validate
from seeds_dag.emulated_ensemble import EnsembleProvenance
from seeds_dag.store import ArtifactStore
from seeds_dag.truth_alignment import align_truth
from seeds_dag.verification.climatology import MIN_CLIMATOLOGY_DAYS, SCALE_ATTR, climatology_of
from seeds_dag_cli.inputs import read_dataset

HELP = "verification tables, summary and report of an emulated ensemble against a truth"
# The pipeline's names of the inputs the verification assets read.
PHYSICS, EMULATED, TRUTH = "operational_ensemble", "daily_emulated_ensembles", "truth"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ensemble", required=True, help="the emulated ensemble (zarr or artifact folder)")
    parser.add_argument("--forecast", required=True, help="the physics ensemble it was emulated from")
    parser.add_argument("--truth", required=True, help="the truth, dims (time, lat, lon)")
    parser.add_argument("--climatology", help="quantiles as the climatology asset stores them "
                        "(default: computed from --truth)")
    parser.add_argument("--out", required=True,
                        help="a storage root of its own for the inputs, tables and report")


def _same_coords(a: xr.Dataset, b: xr.Dataset, names: tuple[str, ...], where: str) -> None:
    for name in names:
        if a[name].shape != b[name].shape or not np.array_equal(a[name].values, b[name].values):
            raise ValueError(f"{where}: {name} {a[name].values.tolist()[:8]} differs from the forecast's "
                             f"{b[name].values.tolist()[:8]}")


def checked_inputs(args: argparse.Namespace) -> tuple[str, dict[str, xr.Dataset]]:
    """(init date, asset name -> dataset) of the inputs, each refused by name before anything is
    written: the forecast in the conventions, the ensemble of its init, leads and grid with its
    provenance, the truth at every valid time, the climatology with its scale."""
    variables = list(VARIABLES)
    forecast = validate(read_dataset(args.forecast, "the forecast"), FORECAST_DIMS,
                        f"the forecast {args.forecast}")
    if forecast.sizes[INIT] != 1:
        raise ValueError(f"the forecast {args.forecast}: {forecast.sizes[INIT]} inits, one expected")
    ensemble = read_dataset(args.ensemble, "the ensemble")
    provenance = EnsembleProvenance.of(ensemble, f"the ensemble {args.ensemble}")
    _same_coords(ensemble, forecast, (INIT, LEAD, LAT, LON), f"the ensemble {args.ensemble}")
    if max(provenance.seed_members) >= forecast.sizes["member"]:
        raise ValueError(f"the ensemble {args.ensemble}: its seed members {list(provenance.seed_members)} "
                         f"are not all members of the {forecast.sizes['member']}-member forecast "
                         f"{args.forecast}")
    truth = read_dataset(args.truth, "the truth")
    missing = [name for name in variables if name not in truth.data_vars]
    if missing:
        raise ValueError(f"the truth {args.truth}: variables {missing} are missing")
    try:
        align_truth(truth[variables], forecast[INIT].values, forecast[LEAD].values)
    except ValueError as lacking:
        lacking.add_note(f"the truth: {args.truth}")
        raise
    if args.climatology is not None:
        climate = read_dataset(args.climatology, "the climatology")
        if SCALE_ATTR not in climate.attrs:
            raise ValueError(f"the climatology {args.climatology}: no '{SCALE_ATTR}' attribute (made by "
                             "the climatology asset or seeds_dag.verification.climatology.climatology_of?)")
    else:
        climate = climatology_of(truth[variables])
        if truth.sizes[TIME] < MIN_CLIMATOLOGY_DAYS:
            print(f"seeds-dag score: the climatology from {truth.sizes[TIME]} days of {args.truth}: its "
                  "1 %/99 % quantiles are close to the sample extremes", file=sys.stderr)
    init = str(np.datetime64(forecast[INIT].values[0], "D"))
    return init, {PHYSICS: forecast, EMULATED: ensemble, TRUTH: truth, CLIMATOLOGY: climate}


def command(args: argparse.Namespace) -> int:
    storage = StorageResource(root=args.out)
    store: ArtifactStore = storage.store()
    if store.exists_bytes(EMULATOR, MODEL):
        raise ValueError(f"--out {args.out} holds {EMULATOR}: a main job's storage root. Score into a "
                         f"root of its own: the inputs are written there as its {PHYSICS}, {TRUTH} and "
                         f"{CLIMATOLOGY}")
    init, inputs = checked_inputs(args)
    for asset, ds in inputs.items():
        store.write_dataset(ds, asset, init if asset in (PHYSICS, EMULATED) else None)
    # Imported here: the asset definitions take seconds to load, which only this command needs.
    from dagster import DagsterInstance, RunConfig, materialize

    from assets.definitions import ALL_ASSETS
    from assets.main_job import console_logger_config
    from assets.partitions import with_operational_init
    from assets.verification import SCORES, SUMMARY

    # An instance of its own in memory: the summary pools the scores partitions it records, i.e.
    # exactly this init.
    instance = DagsterInstance.ephemeral()
    resources = {"storage": storage, "compute": ComputeResource(), "source": SourceResource()}
    # The forecast's init is a partition of its own, whatever the experiment's calendar.
    assets = with_operational_init(ALL_ASSETS, init)
    for asset, partition in ((SCORES, init), (SUMMARY, None), (REPORT, None)):
        materialize(assets, selection=[asset], partition_key=partition, resources=resources,
                    instance=instance, run_config=RunConfig(loggers=console_logger_config("WARNING")))
    print(store.read_bytes(SUMMARY, HEADLINE_TEXT).decode())
    print(f"\nThe tables of {init}: {store.location(SCORES, init)}\n"
          f"The whole summary: {store.location(SUMMARY)}/{SUMMARY_TEXT}\n"
          f"The report: {store.location(REPORT)}/{REPORT_PAGE}")
    return 0
