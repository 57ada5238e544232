"""The cost benchmark's tiny configuration end to end, in process: the table it promises, filled
where each measurement applies, and the files it writes."""

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks import cost
from seeds_dag.generators.kinds import GENERATORS

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
    # One network pass per member for all leads (crps, the default consistency), 2·steps − 1 for edm.
    nfe = emulated.groupby("measurement")["nfe"].unique().map(list).to_dict()
    assert nfe == {"emulator_crps": [1], "emulator_consistency": [1], "emulator_edm": [2 * cost.TINY.num_steps - 1]}
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
