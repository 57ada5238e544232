"""Ideal-K with the seeds' mean shrunk towards the climate, beside ideal-K, on a main job's physics:
what `DenoiserConfig.seed_mean_shrinkage` does to an emulator that had learnt everything else
perfectly (`seeds_dag.seed_mean_shrinkage` says why).

    .venv/bin/python -m benchmarks.shrunk_ideal --from data

The Wiener factor S is measured on the data root's reforecast, normalised by its statistics, as
training measures it (`wiener_factor`). Then, on every operational init, for each non-seed physics
member playing the truth (`verification.perfect_model`): ideal-K built without it, and the same
ensemble shrunk, c + S·(m_K − c) (c the reforecast's climate, `reforecast_climate`) plus
ideal-K's deviations scaled by √((1 + S/K)/(1 + 1/K)) per zonal wavenumber. Prints their perfect-model fair CRPS ratio
per variable and lead, and each one's zonal power over the physics members' at wavenumbers 1–15
(lowest and highest over wavenumbers). Nothing under `--from` changes; a minute on 2 cores.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import xarray as xr

from seeds_dag.conventions import LAT, LEAD, MEMBER, VARIABLES
from seeds_dag.normalization import lead_statistics, to_normalized_array
from seeds_dag.seed_mean_shrinkage import deviation_gain, reforecast_climate, wiener_factor
from seeds_dag.store import ArtifactStore
from seeds_dag.verification.perfect_model import TRUTH_MEMBER, leave_one_out_ideal, members_playing_truth
from seeds_dag.verification.scores import fair_crps
from seeds_dag.verification.spectra import mean_zonal_spectrum

WAVENUMBERS = slice(1, 15)


def all_partitions(store: ArtifactStore, asset: str) -> xr.Dataset:
    """Every partition of a per-init dataset asset, along init_time."""
    return xr.concat([store.load_dataset(asset, key) for key in store.partitions(asset)], "init_time")


def along_circles(field: xr.DataArray, gain: np.ndarray) -> xr.DataArray:
    """`field` (..., lead_time, ..., lat, lon) with its Fourier coefficients along the latitude
    circles multiplied by `gain` (lead, W // 2 + 1)."""
    order = [d for d in field.dims if d not in (LEAD, LAT, "lon")]
    values = field.transpose(*order, LEAD, LAT, "lon").values.astype(np.float64)
    filtered = np.fft.irfft(np.fft.rfft(values, axis=-1) * gain[:, None, :], n=values.shape[-1], axis=-1)
    return field.transpose(*order, LEAD, LAT, "lon").copy(data=filtered.astype(np.float32))


def power_range(ensemble: xr.DataArray, physics_power: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    ratio = (mean_zonal_spectrum(ensemble.to_dataset(name="x"))["x"] / physics_power).sel(wavenumber=WAVENUMBERS)
    return ratio.min("wavenumber"), ratio.max("wavenumber")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="root", default="data", help="a main job's data root (read only)")
    parser.add_argument("--seeds", default="0,1", help="the seed members, comma-separated (default 0,1)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    k = len(seeds)
    store = ArtifactStore(args.root)
    stats = store.load_dataset("normalization_stats")
    variables = list(VARIABLES)
    reforecast = all_partitions(store, "reforecast_shards")
    normalised = to_normalized_array(reforecast[variables], stats, variables)
    n_lead = reforecast.sizes[LEAD]
    climates = reforecast_climate(normalised)
    factor = wiener_factor(normalised, climates, reforecast[LAT].values, k)
    factor = factor.reshape(n_lead, len(variables), -1)
    climates = climates.reshape(n_lead, len(variables), *normalised.shape[-2:])
    gain = deviation_gain(factor, k)
    physics = all_partitions(store, "operational_ensemble")[variables].load()
    truths = members_playing_truth(physics, seeds)
    others = physics.drop_vars(MEMBER).isel({MEMBER: [m for m in range(physics.sizes[MEMBER]) if m not in seeds]})
    rows = []
    for i, name in enumerate(variables):
        mean, std = lead_statistics(stats, name, physics[LEAD].values)  # (lead, lat): back to its units
        climate = xr.DataArray(mean[..., None] + std[..., None] * climates[:, i], dims=(LEAD, LAT, "lon"),
                               coords={LEAD: physics[LEAD], LAT: physics[LAT], "lon": physics["lon"]})
        ideal = leave_one_out_ideal(physics[[name]], seeds)[name]
        seed_mean = physics[name].isel({MEMBER: seeds}).mean(MEMBER)
        deviations = ideal - seed_mean  # √(1 + 1/K) times a physics member's deviation
        shrunk = climate + along_circles(seed_mean - climate, factor[:, i]) + along_circles(deviations, gain[:, i])
        crps = {label: fair_crps(ensemble.to_dataset(name=name), truths[[name]])[name].mean(TRUTH_MEMBER)
                for label, ensemble in (("ideal", ideal), ("shrunk", shrunk))}
        physics_power = mean_zonal_spectrum(others[[name]])[name]
        low_i, high_i = power_range(ideal.isel({TRUTH_MEMBER: 0}), physics_power)
        low_s, high_s = power_range(shrunk.isel({TRUTH_MEMBER: 0}), physics_power)
        ratio = crps["shrunk"].mean("init_time") / crps["ideal"].mean("init_time")
        for j, lead in enumerate(physics[LEAD].values):
            rows.append({"variable": name, "lead_days": lead / np.timedelta64(1, "D"),
                         "crps_shrunk_over_ideal": float(ratio[j]),
                         "power_ideal_low": float(low_i[j]), "power_ideal_high": float(high_i[j]),
                         "power_shrunk_low": float(low_s[j]), "power_shrunk_high": float(high_s[j])})
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200):
        print(f"{physics.sizes['init_time']} inits, seeds {seeds}, {len(truths[TRUTH_MEMBER])} members playing truth")
        print(table.round(3).to_string(index=False))
        print("\nmean over variables by lead:")
        print(table.groupby("lead_days")[["crps_shrunk_over_ideal", "power_ideal_high", "power_shrunk_high"]]
              .agg({"crps_shrunk_over_ideal": "mean", "power_ideal_high": "max", "power_shrunk_high": "max"})
              .round(3).to_string())


if __name__ == "__main__":
    main()
