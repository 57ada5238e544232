"""The cost benchmark's tiny configuration end to end, in process: the table it promises, filled
where each measurement applies, and the files it writes."""

import json

import numpy as np
import pandas as pd

from benchmarks import cost

PROMISED = ["measurement", "grid", "device", "batch", "members", "num_steps", "nfe", "seconds", "s_per_member",
            "physics_over_emulator", "network_frac", "sampler_frac", "normalisation_frac", "zarr_frac",
            "peak_rss_mib", "peak_cuda_mib"]


def test_tiny_run_writes_the_promised_table(tmp_path):
    table = cost.main(["--tiny", "--device", "cpu", "--threads", "1", "--fast-steps", "1", "--out", str(tmp_path)])

    assert list(table.columns) == PROMISED
    kinds = table.groupby("grid")["measurement"].agg(set).to_dict()
    assert kinds == {"32x64": {"physics", "emulator", "emulator_fast", "memory"}, "64x128": {"physics", "emulator"}}
    assert (table["s_per_member"] > 0).all()
    emulated = table[table["measurement"].str.startswith("emulator")]
    assert np.isfinite(emulated["physics_over_emulator"]).all()
    fractions = emulated[["network_frac", "sampler_frac", "normalisation_frac", "zarr_frac"]]
    np.testing.assert_allclose(fractions.sum(axis=1), 1.0, atol=0.01)
    assert (fractions[["network_frac", "zarr_frac"]] > 0).all().all()
    assert set(emulated.loc[emulated["measurement"] == "emulator_fast", "num_steps"]) == {1}
    memory = table[table["measurement"] == "memory"]
    assert sorted(memory["members"]) == list(cost.TINY.memory_members) and (memory["peak_rss_mib"] > 0).all()
    assert table.loc[table["measurement"] != "memory", "peak_rss_mib"].isna().all()

    assert list(pd.read_csv(tmp_path / "cost.csv").columns) == PROMISED
    assert len(json.loads((tmp_path / "cost.json").read_text())["rows"]) == len(table)
    text = (tmp_path / "summary.txt").read_text()
    assert "physics/emulator" in text and "peak RSS" in text and "network" in text
