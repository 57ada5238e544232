"""Cost of an emulated member against a physics member, memory against ensemble size, and both
against resolution.

In one process, on the main job's grid (32x64, T21) and leads (1, 3, 5, 7, 10, 15 days):
  * physics: the embedded ensemble model forecasts a batch of members from one init (CPU), at
    several batch sizes; seconds per member (forecast to the longest lead, every lead written to zarr);
  * emulator, for each generator (crps, consistency, edm): N member trajectories from K = 2 seeds
    of that forecast, at several network batch sizes (members per call); seconds per member
    including normalisation and the streamed zarr write, excluding model loading (reported
    apart), and where they go (network forward, sampler, normalisation, zarr);
  * the ratio physics ÷ emulator per member, per generator (target ≥ 100 at the default);
  * memory: peak RSS (and CUDA peak) of N = 32, 128, 512 with the default generator, each in a
    fresh process (target: N=512 within 10% of N=32);
  * growth: both costs again at T42 on 64x128 (an untrained network of the same architecture).

The timings (physics and emulators, with the ratios) are written and printed before the memory
runs start, so a failure there or in the growth runs does not lose them. Emulated members are
timed whatever their values (see `cost_emulator.validation_recorded`).

    .venv/bin/python -m benchmarks.cost [--checkpoint crps=gee-crps.pt ...] [--generators crps,consistency,edm]
        [--device auto] [--threads 2] [--compile] [--no-growth] [--out data/benchmarks/cost] [--tiny]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

from benchmarks import cost_emulator, cost_physics
from benchmarks.cost_memory import peak_memory
from benchmarks.cost_physics import GridCase
from resources import ComputeResource
from seeds_dag.emulation import SamplerConfig
from seeds_dag.generators.kinds import GENERATORS, model_kind
from seeds_dag.generators.recipes import DEFAULT_GENERATOR
from seeds_dag.normalization import compute_normalization
from seeds_dag.sources.embedded.source import EmbeddedSourceConfig
from seeds_dag.store import ArtifactStore

COLUMNS = ("measurement", "grid", "device", "batch", "members", "num_steps", "nfe", "seconds", "s_per_member",
           "physics_over_emulator", "network_frac", "sampler_frac", "normalisation_frac", "zarr_frac",
           "peak_rss_mib", "peak_cuda_mib")
"""measurement: physics | physics_compiled | emulator_<generator> | memory. batch: members
integrated together (physics) or member trajectories per network call (emulator); num_steps: the
edm generator's solver steps (nfe: network evaluations per member, all leads)."""
PHYSICS = ("physics", "physics_compiled")  # the physics measurements the ratio picks the cheapest of
RATIO_TARGET = 100.0
MEMORY_TOLERANCE = 0.10


@dataclasses.dataclass(frozen=True)
class CostSettings:
    """What the benchmark measures. Spin-up is short: a forecast's cost does not depend on it."""

    grid: GridCase = GridCase(truncation=21, n_lat=32, n_lon=64)
    finer_grid: GridCase = GridCase(truncation=42, n_lat=64, n_lon=128)
    lead_days: tuple[int, ...] = EmbeddedSourceConfig.lead_days
    spinup_days: int = 20
    pool_days: int = 10
    gap_days: int = 5
    physics_batches: tuple[int, ...] = (5, 31, 62)
    emulator_batches: tuple[int, ...] = (16, 32, 64)
    generators: tuple[str, ...] = GENERATORS
    members: int = 64  # emulated per timing
    num_steps: int = SamplerConfig().steps
    memory_members: tuple[int, ...] = (32, 128, 512)
    # Peak memory is set by the batch, not the number of steps, so memory runs sample with few.
    memory_steps: int = 2
    growth_physics_batch: int = 31
    growth_members: int = 16


TINY = CostSettings(grid=GridCase(21, 32, 64), finer_grid=GridCase(21, 64, 128), lead_days=(1,), spinup_days=2,
                    pool_days=2, gap_days=0, physics_batches=(3,), emulator_batches=(2, 4), members=4, num_steps=2,
                    memory_members=(2, 4), memory_steps=1, growth_physics_batch=3, growth_members=2)


def _physics_row(measurement: str, case: GridCase, batch: int, seconds: float) -> dict:
    return dict(measurement=measurement, grid=case.name, device="cpu", batch=batch, members=batch,
                seconds=seconds, s_per_member=seconds / batch)


def physics_rows(case: GridCase, settings: CostSettings, batches: tuple[int, ...], store: ArtifactStore,
                 compile_step: bool, notes: list[str]) -> tuple[list[dict], xr.Dataset, str]:
    """Rows of the physics forecasts at `batches` (and compiled at the cheapest of them); returns
    (rows, the largest forecast, its store partition)."""
    config = cost_physics.source_config(case, settings.lead_days, settings.spinup_days, settings.pool_days,
                                        settings.gap_days)
    truth, pool, setup_seconds = cost_physics.initial_conditions(config)
    notes.append(f"{case.name}: spin-up of {settings.spinup_days} days (cost only, not a steady climate) "
                 f"and the init took {setup_seconds:.1f} s, not counted")
    rows = []
    for batch in batches:
        partition = f"{case.name}-b{batch}"
        forecast, seconds = cost_physics.timed_forecast(config, truth, pool, batch, store, partition)
        rows.append(_physics_row("physics", case, batch, seconds))
        if batch == max(batches):
            largest = (forecast, partition)
    if compile_step:
        batch = min(rows, key=lambda row: row["s_per_member"])["batch"]
        with cost_physics.compiled_dycore_step():
            _, first = cost_physics.timed_forecast(config, truth, pool, batch, store, f"{case.name}-compiling")
            _, seconds = cost_physics.timed_forecast(config, truth, pool, batch, store, f"{case.name}-compiled")
        notes.append(f"{case.name}: compiling the dycore step took {first - seconds:.1f} s more than a compiled run")
        rows.append(_physics_row("physics_compiled", case, batch, seconds))
    return rows, *largest


def emulator_rows(model: torch.nn.Module, forecast: xr.Dataset, case: GridCase, batches: tuple[int, ...],
                  members: int, num_steps: int, store: ArtifactStore, device: torch.device,
                  notes: list[str]) -> tuple[list[dict], int]:
    """Rows of emulating `members` with `model` at every batch (the edm generator with `num_steps`
    solver steps); returns (rows, the cheapest batch)."""
    stats = compute_normalization(forecast)
    cost_emulator.warm_up(model, forecast, stats, max(batches), device)
    measurement = f"emulator_{model_kind(model)}"

    def row(batch: int) -> dict:
        sampler = SamplerConfig(num_steps=num_steps)
        timing = cost_emulator.emulate_to_zarr(model, forecast, stats, store, f"{case.name}-{measurement}-b{batch}",
                                               members, batch, sampler, device)
        notes.extend(cost_emulator.refusal_note(f"{case.name} {measurement} batch {batch}", timing))
        return dict(measurement=measurement, grid=case.name, device=device.type, batch=batch, members=members,
                    num_steps=num_steps, nfe=timing.nfe, seconds=timing.seconds,
                    s_per_member=timing.seconds / members, **timing.fractions())

    rows = [row(batch) for batch in batches]
    return rows, min(rows, key=lambda r: r["s_per_member"])["batch"]


def memory_rows(settings: CostSettings, store: ArtifactStore, partition: str, batch: int, device: torch.device,
                threads: int, checkpoint: Path | None, generator: str, notes: list[str]) -> list[dict]:
    """Peak memory of emulating each of `settings.memory_members` at `batch`, a process each."""
    rows = []
    for n in settings.memory_members:
        peak = peak_memory(Path(store.root), partition, n, batch, settings.memory_steps, device, threads, checkpoint,
                           generator)
        notes.extend(peak["notes"])
        rows.append(dict(measurement="memory", grid=settings.grid.name, device=device.type, batch=batch, members=n,
                         num_steps=settings.memory_steps, seconds=peak["seconds"], s_per_member=peak["seconds"] / n,
                         peak_rss_mib=peak["peak_rss_mib"], peak_cuda_mib=peak["peak_cuda_mib"]))
    return rows


def with_ratios(rows: list[dict]) -> pd.DataFrame:
    """The table, with physics ÷ emulator seconds per member on emulator rows (physics at its
    cheapest batch and settings, compiled or not, on the same grid)."""
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    for grid, group in table.groupby("grid"):
        physics = group.loc[group["measurement"].isin(PHYSICS), "s_per_member"].min()
        emulated = (table["grid"] == grid) & table["measurement"].str.startswith("emulator_")
        table.loc[emulated, "physics_over_emulator"] = physics / table.loc[emulated, "s_per_member"]
    return table


def summary(table: pd.DataFrame, settings: CostSettings, notes: list[str]) -> str:
    """Targets met or not, growth factors, and the notes, as lines of text."""
    main = table[table["grid"] == settings.grid.name]
    physics = main[main["measurement"] == "physics"]
    every_physics = main[main["measurement"].isin(PHYSICS)]
    best = every_physics.loc[every_physics["s_per_member"].idxmin()]
    lines = [(f"{best['measurement']} (batch {best['batch']:.0f}): {best['s_per_member']:.4g} s/member for a "
              f"{max(settings.lead_days)}-day forecast writing {len(settings.lead_days)} leads "
              "(the physics cost every ratio uses)")]
    compiled = main[main["measurement"] == "physics_compiled"]
    if len(compiled):
        plain = physics.set_index("batch")["s_per_member"][compiled["batch"].iloc[0]]
        lines.append(f"physics with a compiled dycore step: x{plain / compiled['s_per_member'].iloc[0]:.2f} faster "
                     f"at batch {compiled['batch'].iloc[0]:.0f}")
    lines.append(profile(table))
    for measurement in [m for m in main["measurement"].unique() if m.startswith("emulator_")]:
        rows = main[main["measurement"] == measurement]
        best = rows.loc[rows["s_per_member"].idxmin()]
        met = "met" if best["physics_over_emulator"] >= RATIO_TARGET else "NOT met"
        default = " (the default)" if measurement == f"emulator_{DEFAULT_GENERATOR}" else ""
        lines.append(f"{measurement}{default} (NFE {best['nfe']:.0f}, batch {best['batch']:.0f}): "
                     f"{best['s_per_member']:.4g} s/member, physics/emulator = {best['physics_over_emulator']:.3g} "
                     f"(target >= {RATIO_TARGET:.0f}: {met})")
    memory = main[main["measurement"] == "memory"].sort_values("members")
    if len(memory) > 1:
        small, large = memory.iloc[0], memory.iloc[-1]
        growth = large["peak_rss_mib"] / small["peak_rss_mib"] - 1
        met = "met" if growth <= MEMORY_TOLERANCE else "NOT met"
        lines.append(f"peak RSS N={large['members']:.0f} vs N={small['members']:.0f}: {growth:+.1%} "
                     f"({large['peak_rss_mib'] - small['peak_rss_mib']:+.0f} MiB; target within "
                     f"{MEMORY_TOLERANCE:.0%}: {met})")
    if settings.finer_grid.name in set(table["grid"]):
        cheapest = table.groupby(["grid", "measurement"])["s_per_member"].min()
        for measurement in cheapest[settings.finer_grid.name].index:
            factor = cheapest[settings.finer_grid.name, measurement] / cheapest[settings.grid.name, measurement]
            lines.append(f"growth {settings.grid.name} -> {settings.finer_grid.name}: {measurement} s/member x{factor:.2f}")
    return "\n".join(lines + [f"note: {note}" for note in notes]) + "\n"


def run(settings: CostSettings, out: Path, device: torch.device, threads: int, checkpoints: dict[str, Path],
        compile_step: bool, growth: bool) -> tuple[pd.DataFrame, str]:
    """Every measurement; writes cost.csv, cost.json and summary.txt to `out` (and prints the summary)
    once the timings are done, then again with memory and growth; returns (table, summary).
    checkpoints: generator -> its trained model.pt (the others are measured untrained)."""
    store = ArtifactStore(str(out / "zarr"))
    notes = [f"threads {torch.get_num_threads()}; physics on the CPU; emulator on {device}"]
    rows, forecast, partition = physics_rows(settings.grid, settings, settings.physics_batches, store, compile_step, notes)
    lat, lon = forecast["lat"].values, forecast["lon"].values
    lead_days = forecast["lead_time"].values / np.timedelta64(1, "D")
    models, best = {}, {}
    for generator in settings.generators:
        models[generator], load_seconds, model_note = cost_emulator.load_emulator(
            checkpoints.get(generator), generator, lat, lon, lead_days, device)
        notes += [model_note, f"{generator}: model loading {load_seconds:.2f} s, not counted"]
        emulated, best[generator] = emulator_rows(models[generator], forecast, settings.grid, settings.emulator_batches,
                                                  settings.members, settings.num_steps, store, device, notes)
        rows += emulated
    _, timings = write_results(rows, settings, notes, out)
    print(f"timings (in {out}; memory runs next):\n{timings}", end="", flush=True)
    default = DEFAULT_GENERATOR if DEFAULT_GENERATOR in models else settings.generators[0]
    # The batch of the memory runs is one that the smallest N fills, else it would use less memory
    # for its smaller batch, not for its fewer members.
    memory_batch = min(best[default], min(settings.memory_members))
    rows += memory_rows(settings, store, partition, memory_batch, device, threads, checkpoints.get(default), default,
                        notes)
    if growth:
        finer, forecast, _ = physics_rows(settings.finer_grid, settings, (settings.growth_physics_batch,), store,
                                          False, notes)
        for generator, model in models.items():
            model = cost_emulator.same_architecture(model, forecast["lat"].values, forecast["lon"].values, device)
            finer += emulator_rows(model, forecast, settings.finer_grid, (best[generator],), settings.growth_members,
                                   settings.num_steps, store, device, notes)[0]
        rows += finer
    return write_results(rows, settings, notes, out)


def write_results(rows: list[dict], settings: CostSettings, notes: list[str], out: Path) -> tuple[pd.DataFrame, str]:
    """The table of `rows` with its ratios and its summary, written to `out` (cost.csv, cost.json,
    summary.txt); returns (table, summary)."""
    table = with_ratios(rows)
    text = summary(table, settings, notes)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "cost.csv", index=False)
    (out / "cost.json").write_text(json.dumps(dict(settings=dataclasses.asdict(settings), notes=notes,
                                                   rows=table.to_dict("records")), indent=1, default=str))
    (out / "summary.txt").write_text(text)
    return table, text


def profile(table: pd.DataFrame) -> str:
    """Where the emulator's time goes at the default generator's cheapest run on the main grid."""
    measurements = table["measurement"]
    default = f"emulator_{DEFAULT_GENERATOR}"
    emulator = table[measurements == (default if (measurements == default).any() else
                                      next(m for m in measurements if m.startswith("emulator_")))]
    best = emulator.loc[emulator["s_per_member"].idxmin()]
    parts = ", ".join(f"{name.removesuffix('_frac')} {best[name]:.0%}"
                      for name in ("network_frac", "sampler_frac", "normalisation_frac", "zarr_frac"))
    return f"emulator time ({best['grid']}, batch {best['batch']:.0f}, NFE {best['nfe']:.0f}): {parts}"


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", action="append", default=[], metavar="GENERATOR=PATH",
                        help="a trained model.pt of a generator (repeat for several); others: untrained networks")
    parser.add_argument("--generators", default=",".join(GENERATORS), help="comma-separated generators to time")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time a torch.compile'd dycore step")
    parser.add_argument("--no-growth", action="store_true", help="skip the finer grid")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/cost"))
    parser.add_argument("--tiny", action="store_true", help="a seconds-long smoke run (tests)")
    args = parser.parse_args(argv)
    device = ComputeResource(device=args.device, threads=args.threads).setup()
    checkpoints = {}
    for item in args.checkpoint:
        generator, _, path = item.partition("=")
        if generator not in GENERATORS or not path:
            parser.error(f"--checkpoint {item!r}: expected GENERATOR=PATH with GENERATOR one of {list(GENERATORS)}")
        checkpoints[generator] = Path(path)
    settings = dataclasses.replace(TINY if args.tiny else CostSettings(), generators=tuple(args.generators.split(",")))
    table, text = run(settings, args.out, device, args.threads, checkpoints, args.compile, not args.no_growth)
    with pd.option_context("display.width", 250, "display.max_columns", None):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(text, end="")
    return table


if __name__ == "__main__":
    main()
