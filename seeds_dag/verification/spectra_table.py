"""The zonal power spectra table of members and truth, and the members' power relative to the
physics members' (the realism target on texture).

Pooled over partitions by :func:`~seeds_dag.verification.scores_table.average_over_inits`.
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa
import xarray as xr
from pandera.typing import Series

from seeds_dag.verification.scores_table import (
    LEAD_DAYS,
    MODEL,
    VARIABLE,
    average_over_inits,
    fixed_width,
    long_table,
)
from seeds_dag.verification.spectra import WAVENUMBER, mean_zonal_spectrum

POWER = "power"
# The spectra table also holds the truth's, the reference every model's spectrum is read against.
TRUTH = "truth"
POWER_RATIO = "power_ratio"
# The highest zonal wavenumber the power ratio is judged at: beyond about 15 the ensemble model's
# del^8 diffusion takes the physics members' power down by orders of magnitude (4-7 by k = 21
# on the 64-longitude grid), so a ratio there measures that damping against a near-zero
# reference rather than the texture of the members.
MAX_RATIO_WAVENUMBER = 15
# Emulated members' power within a factor 1.25 of the physics members' either way (0.8 = 1/1.25).
POWER_RATIO_BAND = (0.8, 1.25)


class SpectrumTableSchema(pa.DataFrameModel):
    """Zonal power per wavenumber (cycles per latitude circle), in the variable's units squared,
    cos(lat)-weighted over latitudes and averaged over members and the inits the table covers."""

    model: Series[str] = pa.Field(str_length={"min_value": 1})
    variable: Series[str] = pa.Field(str_length={"min_value": 1})
    lead_time_days: Series[float] = pa.Field(ge=0)
    wavenumber: Series[int] = pa.Field(ge=0)
    power: Series[float] = pa.Field(ge=0)

    class Config:
        strict = True


def spectrum_table(ensembles: Mapping[str, xr.Dataset], truth_aligned: xr.Dataset) -> pd.DataFrame:
    """Zonal power spectra of each ensemble's members and of the truth (model "truth").

    Args:
        ensembles: model name -> forecast (init_time, lead_time, member, lat, lon).
        truth_aligned: (init_time, lead_time, lat, lon) at the forecasts' valid times.

    Returns:
        columns model, variable, lead_time_days, wavenumber, power, valid under
        :class:`SpectrumTableSchema`.
    """
    if TRUTH in ensembles:
        raise ValueError(f"spectrum_table: the model name {TRUTH!r} is reserved for the truth")
    fields = {**ensembles, TRUTH: truth_aligned}
    frames = [long_table({POWER: mean_zonal_spectrum(ds)}, model) for model, ds in fields.items()]
    table = pd.concat(frames, ignore_index=True).astype({POWER: np.float64})
    return SpectrumTableSchema.validate(table[[MODEL, VARIABLE, LEAD_DAYS, WAVENUMBER, POWER]])


def power_ratio_table(spectra: pd.DataFrame, reference: str,
                      models: list[str] | None = None) -> pd.DataFrame:
    """Zonal power of each model's members relative to the reference's (the physics members'),
    per variable, lead and wavenumber k = 1..MAX_RATIO_WAVENUMBER:

        power_ratio(k) = P_model(k) / P_reference(k)

    with P the power averaged over the inits ``spectra`` holds (:func:`average_over_inits`), so
    the ratio is of the pooled spectra. 1 is the physics texture; < 1 too smooth, > 1 too rough.

    Args:
        spectra: rows valid under :class:`SpectrumTableSchema`, per partition or pooled.
        reference: the model in the denominator, e.g. "physics-31".
        models: the models in the numerator, in this order; None: every other model but the
            truth.

    Returns:
        columns model, variable, lead_time_days, wavenumber, power_ratio (models in the order
        given, wavenumbers ascending).
    """
    pooled = average_over_inits(SpectrumTableSchema.validate(spectra), POWER)
    present = list(pooled[MODEL].unique())
    models = [m for m in present if m not in (reference, TRUTH)] if models is None else models
    absent = [m for m in (reference, *models) if m not in present]
    if absent:
        raise ValueError(f"power_ratio_table: no spectra of model(s) {absent} (the table has "
                         f"{present})")
    band = pooled[pooled[WAVENUMBER].between(1, MAX_RATIO_WAVENUMBER)]
    keys = [VARIABLE, LEAD_DAYS, WAVENUMBER]
    power = band.set_index([MODEL, *keys])[POWER].sort_index()
    frames = [(power.loc[model] / power.loc[reference]).rename(POWER_RATIO).reset_index()
              .assign(**{MODEL: model}) for model in models]
    return pd.concat(frames, ignore_index=True)[[MODEL, *keys, POWER_RATIO]]


def power_ratio_range(ratios: pd.DataFrame) -> pd.DataFrame:
    """Lowest and highest power ratio of each model and variable over every lead and wavenumber
    of ``ratios``, and where each lies: both inside POWER_RATIO_BAND means the members have the
    physics members' spatial texture at every scale judged.

    Args:
        ratios: from :func:`power_ratio_table`.

    Returns:
        columns model, variable, min_power_ratio, min_wavenumber, min_lead_time_days,
        max_power_ratio, max_wavenumber, max_lead_time_days; models in order of appearance.
    """
    rows = ratios.dropna(subset=[POWER_RATIO])
    groups = rows.groupby([MODEL, VARIABLE], sort=False)[POWER_RATIO]
    extremes = []
    for extreme, positions in (("min", groups.idxmin()), ("max", groups.idxmax())):
        at = rows.loc[positions.to_numpy(), [POWER_RATIO, WAVENUMBER, LEAD_DAYS]]
        at.index = positions.index
        extremes.append(at.add_prefix(f"{extreme}_"))
    return pd.concat(extremes, axis=1).reset_index()


def format_power_ratio(ranges: pd.DataFrame, reference: str) -> str:
    """Fixed-width text of :func:`power_ratio_range`: rows variable, a (min, max) column pair per
    model."""
    low, high = POWER_RATIO_BAND
    statistics = {f"{extreme}_{POWER_RATIO}": extreme for extreme in ("min", "max")}
    wide = ranges.rename(columns=statistics).pivot(index=VARIABLE, columns=MODEL,
                                                   values=list(statistics.values()))
    columns = pd.MultiIndex.from_product([list(ranges[MODEL].unique()), statistics.values()])
    wide = wide.swaplevel(axis=1).reindex(columns=columns)
    return (f"Zonal power of members / {reference} members, wavenumbers 1..{MAX_RATIO_WAVENUMBER},"
            f" lowest and highest over leads (target {low:g}-{high:g})\n{fixed_width(wide)}")
