"""Generate N member trajectories from K seed members of a forecast (a zarr, or GEFS GRIB2 with
--gefs) with a trained emulator (and, with --post-processor, the post-processor's from the same
noise), written with their provenance to OUT/emulated_ensemble/<init date>/ as the
`daily_emulated_ensembles` asset writes its partitions: batch by batch, each batch validated,
committed only when whole (a failure leaves the previous version, or nothing). Dims (model,
init_time, lead_time, member, lat, lon), model "gee" (and "gpp").

The forecast is checked before anything is written: one init, the variables, grid and leads the
model was trained on, K seeds the model was trained with; a refusal names the file and what
differs. The normalisation statistics come from the main job's storage root.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from tqdm import tqdm

from assets.model_files import EMULATOR, MODEL
from resources import ComputeResource, StorageResource
from resources.storage import DEFAULT_ROOT, ROOT_ENV_VAR
from seeds_dag.conventions import FORECAST_DIMS, INIT, LAT, LEAD, MEMBER, VARIABLES, validate
from seeds_dag.emulated_ensemble import (
    DEFAULT_SEED_MEMBERS,
    EMULATOR_MODEL,
    POST_PROCESSOR_MODEL,
    check_seed_members,
    write_emulated_ensemble,
)
from seeds_dag.checkpoints import checkpoint_from_bytes
from seeds_dag.emulation import SamplerConfig
from seeds_dag.model_file import trained_lead_days
from seeds_dag.post_processing import PostProcessingFrame
from seeds_dag.sources.archive.gefs import OPERATIONAL
from seeds_dag.store import ArtifactStore
from seeds_dag.trained_models import load_frame, load_generator
from seeds_dag_cli.gefs_input import gefs_operational
from seeds_dag_cli.inputs import read_dataset

HELP = "N members from the seed members of a forecast, by a trained model, with their provenance"
OUTPUT_ASSET = "emulated_ensemble"
"""The artifact under OUT; not the pipeline's asset name, so an OUT that is the main job's storage
root gains an artifact beside the pipeline's rather than a version of one Dagster did not make."""
FRAME_SUFFIX = ".npz"
"""A post-processor file with this suffix is a frame (`frame.npz`); any other a generator (`model.pt`)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("forecast", nargs="?", help="the forecast: a zarr of one init (dims init_time, "
                        f"lead_time, member, lat, lon; variables {', '.join(VARIABLES)} in CF units) or an "
                        "artifact's folder in a storage root, e.g. data/operational_ensemble/2000-02-09")
    parser.add_argument("--gefs", metavar="INIT", help="instead of a forecast, GEFS operational GRIB2 of "
                        "INIT (a date, 00 UTC) through the archive reader: members c00 up to the highest "
                        "seed at the model's leads, regridded to the model grid")
    parser.add_argument("--gefs-endpoint", help="with --gefs: another S3 service than AWS (a mirror), "
                        "read anonymously")
    parser.add_argument("--out", required=True, help="storage root the members go to "
                        f"(OUT/{OUTPUT_ASSET}/<init date>/)")
    parser.add_argument("-n", "--members", type=positive, required=True, help="N, members per model")
    parser.add_argument("--seeds", nargs="+", default=[str(m) for m in DEFAULT_SEED_MEMBERS],
                        help="the seed members: labels of the forecast's member coordinate (c00, 3), or "
                        "positions along it (0 = first) where no label matches (default: %(default)s)")
    parser.add_argument("--storage-root", default=os.environ.get(ROOT_ENV_VAR, DEFAULT_ROOT),
                        help="the main job's storage root: its normalization_stats, and the emulator "
                        f"unless --model is given (default ${ROOT_ENV_VAR}, else %(default)s)")
    parser.add_argument("--model", help=f"the emulator's file (default: STORAGE_ROOT's {EMULATOR} {MODEL})")
    parser.add_argument("--post-processor", help="also the post-processor's members (model 'gpp'): its "
                        f"frame{FRAME_SUFFIX}, fitted to this emulator, or its own model.pt")
    parser.add_argument("--batch-size", type=positive, default=ComputeResource().sample_batch_size,
                        help="member trajectories per network call (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed in [0, 1000), combined with the "
                        "init date as the ensembles asset does (default: %(default)s)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")


def positive(text: str) -> int:
    """An argument that is a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def seed_positions(seeds: list[str], forecast: xr.Dataset, where: str) -> list[int]:
    """The positions along `member` of `seeds` (labels of the member coordinate, or positions
    where no label matches), refused unless they are distinct members of the forecast."""
    labels = [str(label) for label in forecast[MEMBER].values]
    positions = []
    for seed in seeds:
        if seed in labels:
            positions.append(labels.index(seed))
        elif seed.isdigit():
            positions.append(int(seed))
        else:
            raise ValueError(f"{where}: seed {seed!r} is neither a member of {labels} nor a position")
    return check_seed_members(positions, len(labels), f"{where} (members {labels})")


def checked_forecast(path: str) -> xr.Dataset:
    """The forecast at `path`, refused by name unless it is one init in the conventions (every
    variable present, float32, on an ascending grid, in physical range); its other variables dropped."""
    forecast = read_dataset(path, "the forecast")
    inits = forecast.sizes.get(INIT, 0)
    if inits != 1:
        raise ValueError(f"the forecast {path}: {inits} inits, one expected (select one with "
                         f"ds.isel({INIT}=[i]))")
    return validate(forecast, FORECAST_DIMS, f"the forecast {path}")[list(VARIABLES)]


def check_statistics_grid(forecast: xr.Dataset, stats: xr.Dataset, path: str, stats_where: str) -> None:
    """Refuse a forecast whose latitudes or leads are not those the statistics normalise."""
    lat, stats_lat = forecast[LAT].values, stats[LAT].values
    if lat.shape != stats_lat.shape or not np.allclose(lat, stats_lat):
        raise ValueError(f"the forecast {path}: latitudes {lat.min():g}..{lat.max():g} ({lat.size}) differ "
                         f"from those of {stats_where} ({stats_lat.min():g}..{stats_lat.max():g}, "
                         f"{stats_lat.size})")
    missing = sorted(set(forecast[LEAD].values) - set(stats[LEAD].values))
    if missing:
        raise ValueError(f"the forecast {path}: leads {[str(m) for m in missing]} have no statistics "
                         f"in {stats_where}")


def emulator_file(args: argparse.Namespace, root_store: ArtifactStore) -> tuple[bytes, str]:
    """The emulator's file (--model, else the storage root's) and where it is."""
    if args.model is not None:
        return Path(args.model).read_bytes(), args.model
    return root_store.read_bytes(EMULATOR, MODEL), f"{root_store.location(EMULATOR)}/{MODEL}"


def read_forecast(args: argparse.Namespace, emulator: bytes,
                  emulator_where: str) -> tuple[xr.Dataset, list[str], str]:
    """(forecast, the seeds as labels of its member coordinate, its name in messages): the zarr or
    artifact folder given, or with --gefs the GEFS operational forecast at the emulator's leads."""
    if (args.forecast is None) == (args.gefs is None):
        raise ValueError("give the forecast (a zarr or an artifact's folder) or --gefs INIT: one of them")
    if args.gefs is None:
        return checked_forecast(args.forecast), args.seeds, args.forecast
    lead_days = trained_lead_days(checkpoint_from_bytes(emulator, "cpu", emulator_where))
    forecast, seeds = gefs_operational(args.gefs, args.seeds, lead_days, args.gefs_endpoint)
    return forecast[list(VARIABLES)], seeds, f"{OPERATIONAL.name} init {args.gefs}"


def load_models(args: argparse.Namespace, forecast: xr.Dataset, emulator_bytes: bytes,
                emulator_where: str, seed_count: int,
                device: torch.device) -> tuple[dict, dict, dict[str, PostProcessingFrame]]:
    """(model name -> network, -> version, -> frame) of the emulator and, when asked for, the
    post-processor, each refused by name where it does not fit the forecast."""
    lat, lon = forecast[LAT].values, forecast["lon"].values
    lead_days = forecast[LEAD].values / np.timedelta64(1, "D")
    emulator, version = load_generator(emulator_bytes, emulator_where, lat, lon, lead_days, seed_count,
                                       device)
    models, versions, frames = {EMULATOR_MODEL: emulator}, {EMULATOR_MODEL: version}, {}
    if args.post_processor is not None:
        data = Path(args.post_processor).read_bytes()
        if Path(args.post_processor).suffix == FRAME_SUFFIX:
            model, pp_version, frame = load_frame(data, args.post_processor, emulator, version,
                                                  emulator_where, seed_count,
                                                  "materialise post_processor after the emulator")
            frames[POST_PROCESSOR_MODEL] = frame
        else:
            model, pp_version = load_generator(data, args.post_processor, lat, lon, lead_days, seed_count,
                                               device)
        models[POST_PROCESSOR_MODEL], versions[POST_PROCESSOR_MODEL] = model, pp_version
    return models, versions, frames


def command(args: argparse.Namespace) -> int:
    root_store = StorageResource(root=args.storage_root).store()
    emulator, emulator_where = emulator_file(args, root_store)
    forecast, seed_labels, name = read_forecast(args, emulator, emulator_where)
    seeds = seed_positions(seed_labels, forecast, f"the forecast {name}")
    compute = ComputeResource(device=args.device, sample_batch_size=args.batch_size)
    device = compute.setup()
    try:
        models, versions, frames = load_models(args, forecast, emulator, emulator_where, len(seeds), device)
    except ValueError as refused:
        refused.add_note(f"the forecast: {name}")
        raise
    stats = root_store.load_dataset("normalization_stats")
    check_statistics_grid(forecast, stats, name, root_store.location("normalization_stats"))
    init = str(np.datetime64(forecast[INIT].values[0], "D"))
    out = StorageResource(root=args.out).store()
    total = args.members * len(models)
    # A bar on a terminal (tqdm's disable=None: none when stderr is not one), moved on per batch.
    with compute.autocast(device), tqdm(total=total, unit="member", desc=f"emulating {init}",
                                        file=sys.stderr, disable=None) as bar:
        write_emulated_ensemble(out, OUTPUT_ASSET, init, forecast, stats, models, model_versions=versions,
                                seed_members=seeds, n_members=args.members,
                                batch_size=compute.sample_batch_size, sampler=SamplerConfig(), seed=args.seed,
                                device=device,
                                on_members=lambda written: bar.update(written - bar.n), frames=frames)
    print(f"{total} members ({', '.join(models)} x {args.members}) from seeds {seeds} of {name}: "
          f"{out.location(OUTPUT_ASSET, init)}")
    return 0
