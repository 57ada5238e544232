"""Synthetic verification tables and fields with the report's input columns, for the figure, HTML
and report-asset tests. Values are plausible in size (CRPS of z500 in hundreds of m² s⁻², of t850
around 1 K) but mean nothing."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import xarray as xr

from seeds_dag.conventions import VARIABLES, regular_latitudes, regular_longitudes
from seeds_dag.verification.targets import realism_scorecard

MODELS = ("seeds-2", "physics-31", "gee-128", "gpp-128")
LEADS = (1.0, 3.0, 5.0)
QUANTILES = (0.01, 0.99)
# Typical 1-day CRPS per variable, in its units, and typical field values for example maps.
SCALE = {"z500": 120.0, "t850": 0.6, "u850": 1.2, "v850": 1.2, "sp": 90.0}
MEAN = {"z500": 55_000.0, "t850": 275.0, "u850": 5.0, "v850": 0.0, "sp": 100_000.0}
N_LAT, N_LON = 16, 32


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _keys(models=MODELS, leads=LEADS) -> list[dict]:
    return [{"model": m, "variable": v, "lead_time_days": lead}
            for m in models for v in VARIABLES for lead in leads]


def _size(model: str) -> int:
    """The ensemble size N of a model named "<family>-N"."""
    return int(model.rsplit("-", 1)[1])


def summary(models=MODELS) -> pd.DataFrame:
    """Long summary: variable, lead_time_days, model, crps, crps_standard, rmse, spread,
    spread_skill; the standard CRPS exceeds the fair one by about 1/N, as for a Gaussian."""
    rng = _rng(1)
    rows = []
    for key in _keys(models):
        skill = 1.0 + 0.15 * list(models).index(key["model"])
        crps = SCALE[key["variable"]] * key["lead_time_days"] ** 0.7 * skill
        rmse = 1.6 * crps
        spread = rmse * rng.uniform(0.7, 1.1)
        rows.append({**key, "crps": crps, "crps_standard": crps * (1 + 1 / _size(key["model"])),
                     "rmse": rmse, "spread": spread, "spread_skill": spread / rmse})
    return pd.DataFrame(rows)[["variable", "lead_time_days", "model", "crps", "crps_standard",
                               "rmse", "spread", "spread_skill"]]


def energy_score(models=MODELS, leads=LEADS) -> pd.DataFrame:
    """Energy score per model and lead (climatological std units), growing with the lead; the
    standard estimator ~1/N above the fair one."""
    rows = []
    for rank, model in enumerate(models):
        for lead in leads:
            fair = (1.0 + 0.3 * np.sqrt(lead)) * (1.0 + 0.05 * rank)
            rows.append({"model": model, "lead_time_days": lead, "energy_score": fair,
                         "energy_score_standard": fair * (1 + 1 / _size(model))})
    return pd.DataFrame(rows)


def variable_correlation(models=MODELS, variables=VARIABLES, leads=LEADS) -> pd.DataFrame:
    """Pooled correlation per pair of variables, model and lead: a pair-specific value fading
    with the lead, each model a little off the first."""
    rng = _rng(5)
    rows = []
    for first, second in itertools.combinations(variables, 2):
        base = rng.uniform(-0.8, 0.8)
        for rank, model in enumerate(models):
            for lead in leads:
                rows.append({"first_variable": first, "second_variable": second,
                             "lead_time_days": lead, "model": model,
                             "correlation": base * np.exp(-0.05 * lead) - 0.04 * rank})
    return pd.DataFrame(rows)


def crps_claim(models=MODELS[2:], leads=LEADS) -> pd.DataFrame:
    """Per lead and emulated model: standard CRPS over the seeds' (below the 0.9 target) and
    fair CRPS over the physics ensemble's (a little above 1)."""
    return pd.DataFrame([{"lead_time_days": lead, "model": model,
                          "standard_crps_over_seeds": 0.8 + 0.02 * lead + 0.03 * rank,
                          "fair_crps_over_physics": 1.02 + 0.01 * lead + 0.02 * rank}
                         for lead in leads for rank, model in enumerate(models)])


def perfect_model(models=("seeds-2", *MODELS[2:]), leads=LEADS) -> pd.DataFrame:
    """The pooled perfect-model table: ideal-2 and `models` per variable and lead, the emulated
    ones a few % above ideal-2's fair CRPS (more at long leads), the ratios NaN where
    perfect_model_summary leaves them out (ideal-K's, the seeds' fair one)."""
    rows = []
    for key in _keys(("ideal-2", *models), leads):
        model, lead = key["model"], key["lead_time_days"]
        crps = SCALE[key["variable"]] * lead ** 0.7
        reference = model.startswith(("ideal", "seeds"))
        fair = np.nan if reference else 1.0 + 0.01 * lead + 0.03 * list(models).index(model)
        standard = np.nan if model.startswith("ideal") else (1.22 if reference else fair)
        rows.append({**key, "crps": crps * (1.0 if reference else fair),
                     "crps_standard": crps * (standard if np.isfinite(standard) else 1.02),
                     "rmse": 1.6 * crps, "spread": 1.5 * crps, "spread_skill": 0.95,
                     "fair_crps_over_ideal": fair, "standard_crps_over_ideal": standard,
                     "max_bin_ratio": 1.2, "n_truth_members": 29})
    return pd.DataFrame(rows)


def ranks(models=MODELS, n_inits: int = 2) -> pd.DataFrame:
    """Rank counts of each init stacked (as read from the verification_scores partitions)."""
    rng = _rng(2)
    rows = []
    for _ in range(n_inits):
        for key in _keys(models):
            n_bins = _size(key["model"]) + 1
            # U-shaped for the small ensembles (under-dispersed), flat for the large ones.
            shape = 1.0 + (2.0 / n_bins) * np.cos(np.linspace(0, 2 * np.pi, n_bins))
            counts = rng.poisson(200 * shape)
            rows += [{**key, "rank": r, "count": int(c)} for r, c in enumerate(counts)]
    return pd.DataFrame(rows)


def extremes(models=MODELS) -> pd.DataFrame:
    rng = _rng(3)
    rows = []
    for key in _keys(models):
        for q in QUANTILES:
            clim = q * (1 - q)
            brier = clim * rng.uniform(0.4, 0.9)
            rows.append({**key, "quantile": q, "brier": brier, "brier_climatology": clim,
                         "bss": 1 - brier / clim, "roc_auc": rng.uniform(0.7, 0.95)})
    return pd.DataFrame(rows)


def reliability(models=MODELS, n_bins: int = 6) -> pd.DataFrame:
    rng = _rng(4)
    rows = []
    centres = (np.arange(n_bins) + 0.5) / n_bins
    for key in _keys(models):
        for q in QUANTILES:
            for b, p in enumerate(centres):
                rows.append({**key, "quantile": q, "bin": b, "mean_probability": p,
                             "observed_frequency": float(np.clip(p + rng.normal(0, 0.08), 0, 1)),
                             "n_forecasts": int(5000 * np.exp(-6 * p)) + 1})
    return pd.DataFrame(rows)


def bias_maps(models=MODELS) -> pd.DataFrame:
    lat, lon = regular_latitudes(N_LAT), regular_longitudes(N_LON)
    lat2, lon2 = np.meshgrid(lat, lon, indexing="ij")
    frames = []
    for i, key in enumerate(_keys(models)):
        error = SCALE[key["variable"]] * (np.cos(np.deg2rad(lat2)) * np.sin(np.deg2rad(lon2 + 40 * i))
                                          - 0.2 * (key["model"] == "physics-31"))
        frames.append(pd.DataFrame({**key, "lat": lat2.ravel(), "lon": lon2.ravel(),
                                    "mean_error": error.ravel()}))
    return pd.concat(frames, ignore_index=True)


def spectra(models=MODELS) -> pd.DataFrame:
    """Power per zonal wavenumber 0..N_LON/2 of each model and, as upstream, of the truth."""
    rows = []
    wavenumbers = np.arange(N_LON // 2 + 1)
    for key in _keys((*models, "truth")):
        slope = 3.0 + 0.3 * (key["model"].startswith("gee"))
        power = SCALE[key["variable"]] ** 2 * 1e3 * (wavenumbers + 1.0) ** -slope
        rows += [{**key, "wavenumber": int(k), "power": p} for k, p in zip(wavenumbers, power)]
    return pd.DataFrame(rows)


def power_ratios(models=MODELS[2:]) -> pd.DataFrame:
    """Zonal power of the emulated members over the physics members', wavenumbers 1..15: gee's
    members too rough at small scales, gpp's near 1."""
    rows = []
    for key in _keys(models):
        excess = 0.04 if key["model"].startswith("gee") else 0.005
        rows += [{**key, "wavenumber": k, "power_ratio": 0.95 * np.exp(excess * k)}
                 for k in range(1, 16)]
    return pd.DataFrame(rows)


def coherence(models=MODELS, leads=LEADS) -> pd.DataFrame:
    """Correlation between consecutive leads, rising with the lead as errors grow, a little
    weaker for each model in turn."""
    rows = []
    for rank, model in enumerate(models):
        for variable in VARIABLES:
            for first, second in zip(leads[:-1], leads[1:]):
                memory = np.exp(-(0.2 + 0.05 * rank) * (second - first) / (1 + 0.3 * first))
                rows.append({"model": model, "variable": variable, "first_lead_days": first,
                             "second_lead_days": second, "coherence": float(memory)})
    return pd.DataFrame(rows)


def meridional(models=MODELS, leads=LEADS) -> pd.DataFrame:
    """Correlation between adjacent latitudes, near physics' 0.8 for the first model and lower for
    each model in turn (members striped along the latitude circles score near 0)."""
    return pd.DataFrame([{"model": model, "variable": variable, "lead_time_days": lead,
                          "latitude_coherence": 0.8 - 0.2 * rank + 0.005 * lead}
                         for rank, model in enumerate(models) for variable in VARIABLES for lead in leads])


def member_field(variable: str, seed: int) -> xr.DataArray:
    """A smooth (lat, lon) field around the variable's typical value, with a random phase."""
    rng = _rng(seed)
    lat, lon = regular_latitudes(N_LAT), regular_longitudes(N_LON)
    wave = np.cos(np.deg2rad(lat))[:, None] * np.sin(np.deg2rad(3 * lon + rng.uniform(0, 360)))[None]
    values = MEAN[variable] + 6 * SCALE[variable] * wave + SCALE[variable] * rng.normal(size=wave.shape)
    return xr.DataArray(values.astype(np.float32), dims=("lat", "lon"),
                        coords={"lat": lat, "lon": lon})


def member_panels(variable: str) -> dict[str, xr.DataArray]:
    titles = ["truth", "physics member 0", "physics member 1", "gee member 0", "gpp member 0"]
    return {title: member_field(variable, seed) for seed, title in enumerate(titles)}


def calibration(models=MODELS[2:], leads=LEADS) -> pd.DataFrame:
    """The pooled calibration table (`calibration_summary`): each emulated model's variance ratio
    per variable, lead and band, the grid-scale band far too rough for the first model."""
    bands = ("0-3", "4-7", "8-15", "16+", "all")
    return pd.DataFrame([{**key, "band": band,
                          "variance_ratio": (40.0 if band == "16+" and key["model"] == models[0] else 1.0)
                          * (0.9 + 0.05 * key["lead_time_days"])}
                         for key in _keys(models, leads) for band in bands])


def realism(models=MODELS[2:]) -> pd.DataFrame:
    """The pooled realism scorecard (`realism_scorecard`)."""
    return realism_scorecard(list(models), "physics-31", power_ratios=power_ratios(models),
                             calibration=calibration(models))
