"""Members' variance about the seeds' mean by scale, over the physics members' (no truth)."""

import numpy as np
import pytest
import xarray as xr

from seeds_dag.verification.calibration import (
    BAND,
    TOTAL,
    CalibrationTableSchema,
    calibration_summary,
    calibration_table,
    variance_about_seeds,
)
from tests.synthetic_grid import forecast_coords

N_LAT, N_LON, N_LEAD = 8, 64, 2
SEEDS = (0, 1)


def red_members(n_member: int, seed: int, amplitude: float = 1.0) -> xr.Dataset:
    """Exchangeable members: a fixed flow plus perturbations smooth along longitude (power
    falling as 1/k², so most variance sits at the planetary and synoptic scales), growing
    towards the poles so latitudes differ in variance."""
    rng = np.random.default_rng(seed)
    coords = forecast_coords(2, N_LEAD, n_member, N_LAT, N_LON)
    k = np.fft.rfftfreq(N_LON, 1 / N_LON)
    filter_ = 1 / np.maximum(k, 1)
    white = rng.standard_normal((2, N_LEAD, n_member, N_LAT, N_LON))
    perturbation = np.fft.irfft(np.fft.rfft(white, axis=-1) * filter_, n=N_LON, axis=-1)
    perturbation /= perturbation.std()
    scale = 1 + np.abs(coords["lat"])[:, None] / 30
    flow = 10 * np.sin(np.deg2rad(coords["lon"]))[None, :]
    values = flow + amplitude * scale * perturbation
    return xr.Dataset({"t850": (tuple(coords), values.astype(np.float32))}, coords=coords)


def test_members_drawn_like_the_physics_members_are_calibrated_at_every_scale():
    physics, emulated = red_members(31, seed=0), red_members(200, seed=1)
    ratio = variance_about_seeds({"physics-31": physics, "gee-200": emulated}, "physics-31", SEEDS)
    # Within sampling error of 29 reference members × 2 inits (the seed mean is common to both).
    np.testing.assert_allclose(ratio["t850"].sel(model="gee-200").values
                               / ratio["t850"].sel(model="physics-31").values, 1, atol=0.12)
    np.testing.assert_allclose(ratio["t850"].sel(model="physics-31", band=TOTAL).values, 1, rtol=1e-6)


def test_grid_point_noise_shows_at_the_small_scales_and_too_little_spread_everywhere():
    physics = red_members(31, seed=0)
    rng = np.random.default_rng(2)
    noisy = red_members(200, seed=1)
    noisy["t850"] = noisy["t850"] + 0.5 * rng.standard_normal(noisy["t850"].shape).astype(np.float32)
    narrow = red_members(200, seed=3, amplitude=0.6)
    ratio = variance_about_seeds({"physics-31": physics, "noisy": noisy, "narrow": narrow}, "physics-31", SEEDS)
    summary = calibration_summary(calibration_table(
        {"physics-31": physics, "noisy": noisy, "narrow": narrow}, "physics-31", SEEDS), "physics-31")
    by = summary.set_index(["model", "lead_time_days", BAND])["variance_ratio"]
    # White noise more than doubles the grid-scale variance while the total moves by ≤ 11 %:
    # a total alone would call these members calibrated.
    assert (by.xs(("noisy", "16+"), level=("model", BAND)) > 2).all()
    assert by.xs(("noisy", TOTAL), level=("model", BAND)).between(0.85, 1.15).all()
    assert by.xs(("noisy", "0-3"), level=("model", BAND)).between(0.85, 1.15).all()
    # 0.6 of the perturbation amplitude: the seeds' own share of the deviation (1/K of σ²) stays,
    # so the ratio is (0.36 + 0.5) / 1.5 ≈ 0.57, at every scale.
    assert by.xs(("narrow", TOTAL), level=("model", BAND)).between(0.45, 0.7).all()
    assert float(ratio["t850"].sel(model="narrow", band="0-3").mean()) < 0.75


def test_the_table_has_a_row_per_model_variable_init_lead_and_band_and_refuses_seeds_only():
    physics, emulated = red_members(31, seed=0), red_members(8, seed=1)
    table = calibration_table({"physics-31": physics, "gee-8": emulated}, "physics-31", SEEDS)
    CalibrationTableSchema.validate(table)
    assert len(table) == 2 * 1 * 2 * N_LEAD * 5  # models × variables × inits × leads × bands
    with pytest.raises(ValueError, match="must be some, not all"):
        variance_about_seeds({"physics-2": physics.isel(member=[0, 1])}, "physics-2", SEEDS)
