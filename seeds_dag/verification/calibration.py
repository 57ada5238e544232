"""Calibration of emulated members against the ensemble they emulate, with no truth needed: how
much a member varies about the seeds' mean, at each scale, over what the physics members do.

An emulator of K seeds should draw members like the physics ensemble's other members given the
seeds. A physics member j that is not a seed deviates from the seeds' mean m_K by
x_j − m_K, whose variance is σ²(1 + 1/K) for exchangeable members of variance σ²; an emulated
member should deviate by as much, at every lead, variable and scale. So the figure of merit is

    variance ratio = Σ_lat w · V_model / Σ_lat w · V_physics,

V the variance of the members' deviations from m_K (mean over members, lon and the zonal
wavenumbers of a band) at each latitude, in units of the physics members' total at that latitude
(the "seed-anomaly units" the emulator is trained in, so every latitude counts by its area, not by
its variance), w = cos(lat) (`weighting.area_weights`). 1 is calibrated; the target is 0.9–1.1 per
lead and variable. The bands split the zonal wavenumbers by scale, so a generator that paints
grid-point noise (too much at k ≥ 16) or blurs (too little at 8–15) shows it even where its total
is right. It needs no truth, so it is measurable on the training inits too (skill benchmark).
"""

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pandera.pandas as pa
import xarray as xr
from pandera.typing import Series

from seeds_dag.conventions import INIT, LAT, LEAD, MEMBER
from seeds_dag.verification.spectra import WAVENUMBER, zonal_power_spectrum
from seeds_dag.weighting import area_weights

BAND = "band"
TOTAL = "all"
WAVENUMBER_BANDS = {"0-3": (0, 3), "4-7": (4, 7), "8-15": (8, 15), "16+": (16, None)}
"""Zonal wavenumber bands, inclusive (16+ runs to the grid's last wavenumber): planetary waves,
synoptic waves, the shortest waves the physics model resolves well, and the grid scale."""
VARIANCE_RATIO_RANGE = (0.9, 1.1)
"""Calibrated enough: members' variance about the seed mean within 10 % of the physics members'."""


class CalibrationTableSchema(pa.DataFrameModel):
    """Per-init variance of members about the seeds' mean, in units of the physics members'
    total at each latitude, area-weighted: one row per (model, variable, init, lead, band).
    The physics ensemble's own row (its non-seed members) is 1 in band "all" by construction."""

    model: Series[str] = pa.Field(str_length={"min_value": 1})
    variable: Series[str] = pa.Field(str_length={"min_value": 1})
    init_time: Series[pa.DateTime]
    lead_time_days: Series[float] = pa.Field(ge=0)
    band: Series[str] = pa.Field(isin=[*WAVENUMBER_BANDS, TOTAL])
    variance: Series[float] = pa.Field(ge=0)

    class Config:
        strict = True
        unique = ["model", "variable", "init_time", "lead_time_days", BAND]


def deviation_power_by_band(members: xr.Dataset, seed_mean: xr.Dataset) -> xr.Dataset:
    """Zonal power of each member's deviation from the seeds' mean, summed within each band of
    WAVENUMBER_BANDS and in all of them ("all"), averaged over members: (init_time, lead_time,
    lat, band) per variable, the variable's units squared (Parseval: "all" is the mean square
    along the latitude circle)."""
    power = zonal_power_spectrum(members - seed_mean).mean(MEMBER)
    wavenumbers = power[WAVENUMBER].values
    bands = {}
    for name, (low, high) in WAVENUMBER_BANDS.items():
        selected = (wavenumbers >= low) & (wavenumbers <= (wavenumbers[-1] if high is None else high))
        bands[name] = power.isel({WAVENUMBER: selected}).sum(WAVENUMBER)
    bands[TOTAL] = power.sum(WAVENUMBER)
    return xr.concat(list(bands.values()), dim=pd.Index(list(bands), name=BAND))


def variance_about_seeds(ensembles: Mapping[str, xr.Dataset], physics: str,
                         seed_members: Sequence[int]) -> xr.Dataset:
    """The variance of each ensemble's members about the seeds' mean, per band, in units of the
    physics members' total at each latitude, area-weighted over latitudes.

    Args:
        ensembles: name -> (init_time, lead_time, member, lat, lon); `physics` among them.
        physics: the physics ensemble's name; its seed members give the seeds' mean, its other
            members are the reference (and its own entry in the result).
        seed_members: the seeds' indices in the physics ensemble, at least one, not all.

    Returns:
        (model, init_time, lead_time, band) per variable.
    """
    ensemble = ensembles[physics]
    seeds = [int(m) for m in seed_members]
    others = [m for m in range(ensemble.sizes[MEMBER]) if m not in seeds]
    if not seeds or not others:
        raise ValueError(f"variance_about_seeds: seed members {seeds} must be some, not all, of the "
                         f"{ensemble.sizes[MEMBER]} members of {physics}")
    seed_mean = ensemble.isel({MEMBER: seeds}).mean(MEMBER)
    reference = {physics: ensemble.isel({MEMBER: others})}
    powers = {name: deviation_power_by_band(members, seed_mean)
              for name, members in {**reference, **{k: v for k, v in ensembles.items() if k != physics}}.items()}
    unit = powers[physics].sel({BAND: TOTAL})
    weights = area_weights(ensemble[LAT])
    ratios = {name: (power / unit).weighted(weights).mean(LAT) for name, power in powers.items()}
    return xr.concat(list(ratios.values()), dim=pd.Index(list(ratios), name="model"))


def calibration_table(ensembles: Mapping[str, xr.Dataset], physics: str,
                      seed_members: Sequence[int]) -> pd.DataFrame:
    """`variance_about_seeds` as a long table (CalibrationTableSchema), leads in days."""
    variance = variance_about_seeds(ensembles, physics, seed_members)
    frame = variance.to_array("variable").rename("variance").to_dataframe().reset_index()
    frame[f"{LEAD}_days"] = frame.pop(LEAD) / np.timedelta64(1, "D")
    columns = ["model", "variable", INIT, f"{LEAD}_days", BAND, "variance"]
    return CalibrationTableSchema.validate(frame[columns].astype({"model": str, "variable": str, BAND: str}))


def calibration_summary(table: pd.DataFrame, physics: str) -> pd.DataFrame:
    """Each ensemble's variance over the physics members', pooled over inits (a ratio of means),
    per (model, variable, lead, band), without the physics rows: column `variance_ratio`."""
    pooled = table.groupby(["model", "variable", f"{LEAD}_days", BAND], sort=False)["variance"].mean()
    reference = pooled.xs(physics, level="model")
    others = pooled.drop(physics, level="model")
    ratio = others / reference.reindex(others.index.droplevel("model")).to_numpy()
    return ratio.rename("variance_ratio").reset_index()


def format_calibration(summary: pd.DataFrame, physics: str) -> str:
    """Fixed-width text of `calibration_summary`: rows lead, a column per (model, band), each the
    mean over variables (the realism scorecard gives the extremes over variables)."""
    low, high = VARIANCE_RATIO_RANGE
    bands = [*WAVENUMBER_BANDS, TOTAL]
    wide = (summary.groupby(["model", f"{LEAD}_days", BAND], sort=False)["variance_ratio"].mean()
            .unstack(["model", BAND]))
    wide = wide.reindex(columns=pd.MultiIndex.from_product([list(summary["model"].unique()), bands]))
    return (f"Variance of members about the seeds' mean / the {physics} members', by zonal wavenumber band, "
            f"mean over variables (target {low:g}-{high:g} for all scales)\n"
            f"{wide.to_string(float_format=lambda x: f'{x:.3g}')}")
