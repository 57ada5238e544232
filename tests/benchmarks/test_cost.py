"""The cost benchmark's tiny configuration end to end, in process: the table it promises, filled
where each measurement applies, and the files it writes; that it finishes whatever values the
emulated members take, and keeps its timings when a later phase fails."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from benchmarks import cost
from benchmarks.cost_memory import peak_memory
from benchmarks.cost_physics import PHYSICS_ASSET
from seeds_dag.conventions import FORECAST_DIMS, VARIABLES
from seeds_dag.generators.kinds import GENERATORS
from seeds_dag.store import ArtifactStore
from tests.synthetic_grid import forecast_coords

PROMISED = ["measurement", "grid", "device", "batch", "members", "num_steps", "nfe", "seconds", "s_per_member",
            "physics_over_emulator", "network_frac", "sampler_frac", "normalisation_frac", "zarr_frac",
            "peak_rss_mib", "peak_cuda_mib"]


def test_tiny_run_writes_the_promised_table(tmp_path):
    table = cost.main(["--tiny", "--device", "cpu", "--threads", "1", "--out", str(tmp_path)])

    assert list(table.columns) == PROMISED
    kinds = table.groupby("grid")["measurement"].agg(set).to_dict()
    emulators = {f"emulator_{g}" for g in GENERATORS}
    assert kinds == {"32x64": {"physics", "memory", *emulators}, "64x128": {"physics", *emulators}}
    assert (table["s_per_member"] > 0).all()
    emulated = table[table["measurement"].str.startswith("emulator_")]
    assert np.isfinite(emulated["physics_over_emulator"]).all()
    fractions = emulated[["network_frac", "sampler_frac", "normalisation_frac", "zarr_frac"]]
    # Network, normalisation and zarr are timed apart; the sampler is the rest of the total, so a
    # part counted twice (or timed outside the total) shows as a negative remainder.
    assert (fractions[["network_frac", "normalisation_frac", "zarr_frac"]] > 0).all().all()
    assert (fractions["sampler_frac"] >= 0).all()
    # One network pass per member for all leads (crps, the default consistency), one a step for
    # edm's default solver, DPM-Solver++(2M).
    nfe = emulated.groupby("measurement")["nfe"].unique().map(list).to_dict()
    assert nfe == {"emulator_crps": [1], "emulator_consistency": [1], "emulator_edm": [cost.TINY.num_steps]}
    memory = table[table["measurement"] == "memory"]
    assert sorted(memory["members"]) == list(cost.TINY.memory_members) and (memory["peak_rss_mib"] > 0).all()
    assert table.loc[table["measurement"] != "memory", "peak_rss_mib"].isna().all()

    assert list(pd.read_csv(tmp_path / "cost.csv").columns) == PROMISED
    assert len(json.loads((tmp_path / "cost.json").read_text())["rows"]) == len(table)
    text = (tmp_path / "summary.txt").read_text()
    assert "physics/emulator" in text and "peak RSS" in text and "network" in text and "(the default)" in text


def test_the_ratio_uses_the_cheapest_physics_compiled_or_not():
    rows = [dict(measurement="physics", grid="g", batch=31, s_per_member=1.0),
            dict(measurement="physics", grid="g", batch=62, s_per_member=0.9),
            dict(measurement="physics_compiled", grid="g", batch=62, s_per_member=0.6),
            dict(measurement="emulator_crps", grid="g", batch=64, s_per_member=0.1),
            dict(measurement="physics", grid="h", batch=31, s_per_member=4.0),
            dict(measurement="emulator_crps", grid="h", batch=64, s_per_member=0.5)]
    table = cost.with_ratios(rows).set_index(["grid", "measurement"])
    assert table.loc[("g", "emulator_crps"), "physics_over_emulator"] == pytest.approx(6.0)
    assert table.loc[("h", "emulator_crps"), "physics_over_emulator"] == pytest.approx(8.0)


def _forecast_on_the_t850_bound(n_lat: int, n_lon: int) -> xr.Dataset:
    """Three members of one lead with every field mid-range but t850 centred on its upper bound, so
    about half of any ensemble emulated from it lies outside the physical range."""
    coords = forecast_coords(1, 1, 3, n_lat, n_lon)
    shape = tuple(len(values) for values in coords.values())
    noise = np.random.default_rng(0).standard_normal(shape)
    fields = {}
    for name, var in VARIABLES.items():
        centre = var.valid_max if name == "t850" else (var.valid_min + var.valid_max) / 2
        fields[name] = (FORECAST_DIMS, (centre + 0.01 * (var.valid_max - var.valid_min) * noise).astype(np.float32))
    return xr.Dataset(fields, coords=coords)


def test_a_memory_run_finishes_on_members_the_asset_would_refuse(tmp_path):
    store = ArtifactStore(str(tmp_path))
    store.write_dataset(_forecast_on_the_t850_bound(cost.TINY.grid.n_lat, cost.TINY.grid.n_lon), PHYSICS_ASSET, "edge")

    peak = peak_memory(tmp_path, "edge", n_members=2, batch=2, num_steps=1, device=torch.device("cpu"), threads=1,
                       checkpoint=None, generator="crps")

    assert peak["peak_rss_mib"] > 0 and peak["seconds"] > 0
    # Timed, not refused, and said so, naming the variable out of range.
    assert any("'t850'" in note for note in peak["notes"])


def test_the_timings_are_written_and_printed_before_the_memory_runs(tmp_path, monkeypatch, capsys):
    def failing_memory_run(*args, **kwargs):
        raise RuntimeError("memory run failed")

    monkeypatch.setattr(cost, "peak_memory", failing_memory_run)
    with pytest.raises(RuntimeError, match="memory run failed"):
        cost.main(["--tiny", "--no-growth", "--generators", "crps", "--device", "cpu", "--threads", "1",
                   "--out", str(tmp_path)])

    table = pd.read_csv(tmp_path / "cost.csv")
    emulated = table[table["measurement"] == "emulator_crps"]
    assert len(emulated) == len(cost.TINY.emulator_batches) and np.isfinite(emulated["physics_over_emulator"]).all()
    ratio_line = next(line for line in (tmp_path / "summary.txt").read_text().splitlines()
                      if line.startswith("emulator_crps"))
    assert "physics/emulator" in ratio_line and ratio_line in capsys.readouterr().out


def test_the_docstring_command_line_names_every_flag(capsys):
    with pytest.raises(SystemExit) as exited:
        cost.main(["--help"])

    assert exited.value.code == 0
    flags = re.compile(r"--[a-z][a-z-]*")
    documented = set(flags.findall(cost.__doc__.split("python -m benchmarks.cost")[1]))
    assert documented == set(flags.findall(capsys.readouterr().out)) - {"--help"}
