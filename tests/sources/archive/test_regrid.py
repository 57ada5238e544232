"""Conservative regridding against brute force, exact block means where grids nest, and the
properties the module docstring claims (conservation, no aliasing, seam, order independence)."""

import numpy as np
import pytest
import xarray as xr

from seeds_dag.conventions import regular_latitudes, regular_longitudes
from seeds_dag.sources.archive.regrid import ConservativeRegridder, ToModelGrid

N_LAT, N_LON = 32, 64
TARGET_LAT, TARGET_LON = regular_latitudes(N_LAT), regular_longitudes(N_LON)
TARGET_DLAT, TARGET_DLON = 180 / N_LAT, 360 / N_LON


def gefs_grid(step: float) -> tuple[np.ndarray, np.ndarray]:
    """GEFS/ERA5 order: points on the poles, latitudes descending, longitudes from 0°."""
    return np.linspace(90, -90, round(180 / step) + 1), np.arange(round(360 / step)) * step


def smooth_field(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    phi, lam = np.deg2rad(lat)[:, None], np.deg2rad(lon)[None, :]
    return 5500 + 300 * np.cos(phi) ** 2 + 100 * np.sin(3 * lam + 0.4) * np.cos(phi) \
        + 30 * np.sin(17 * lam) * np.cos(phi)


def regrid(values, lat, lon):
    return ConservativeRegridder.between(lat, lon, TARGET_LAT, TARGET_LON)(values)


def source_cell_areas(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Areas (sr) of the cells around points of a regular grid whose end rows sit on the poles."""
    step = abs(lat[1] - lat[0])
    upper, lower = np.minimum(lat + step / 2, 90), np.maximum(lat - step / 2, -90)
    return (np.sin(np.deg2rad(upper)) - np.sin(np.deg2rad(lower)))[:, None] \
        * np.full(lon.size, np.deg2rad(360 / lon.size))


def brute_force_mean(field, lat, lon, i, j, n=800):
    """Mean over target cell (i, j) of the piecewise-constant source field, by cos-lat-weighted
    sampling at n × n points: an estimate of the exact answer independent of the code under test."""
    step = abs(lat[1] - lat[0])
    la = -90 + TARGET_DLAT * (i + (np.arange(n) + 0.5) / n)
    lo = TARGET_LON[j] + TARGET_DLON * ((np.arange(n) + 0.5) / n - 0.5)
    rows = np.clip(np.round((90 - la) / step).astype(int), 0, lat.size - 1)
    cols = np.round(np.mod(lo, 360) / step).astype(int) % lon.size
    weights = np.cos(np.deg2rad(la))[:, None]
    return float((field[np.ix_(rows, cols)] * weights).sum() / (weights.sum() * n))


@pytest.mark.parametrize("cell", [(0, 0), (0, 1), (5, 7), (16, 0), (31, 63), (20, 33)])
def test_matches_brute_force_cell_means(cell):
    lat, lon = gefs_grid(1.0)
    field = smooth_field(lat, lon)
    want = brute_force_mean(field, lat, lon, *cell)
    # The brute force's own sampling error is ~1e-3 here; regridding errors would be ~1e-1.
    assert regrid(field, lat, lon)[cell] == pytest.approx(want, abs=5e-3)


def test_nested_grids_give_exact_area_weighted_block_means():
    step = TARGET_DLAT / 10  # 0.5625°, cell centres: ten source cells per target cell each way
    lat = -90 + step * (np.arange(320) + 0.5)
    lon = step * (np.arange(640) + 0.5) - TARGET_DLON / 2  # cells aligned with the target's
    field = smooth_field(lat, lon)
    area = np.diff(np.sin(np.deg2rad(-90 + step * np.arange(321))))[:, None] * np.ones(640)
    blocks = lambda a: a.reshape(N_LAT, 10, N_LON, 10).sum(axis=(1, 3))
    np.testing.assert_allclose(regrid(field, lat, lon), blocks(field * area) / blocks(area),
                               rtol=1e-12)


@pytest.mark.parametrize("step", [0.5, 1.0])
def test_keeps_the_global_mean_and_constants(step):
    lat, lon = gefs_grid(step)
    field = smooth_field(lat, lon)
    out = regrid(np.stack([field, np.full_like(field, 287.5)]), lat, lon)
    source_mean = np.sum(field * source_cell_areas(lat, lon)) / (4 * np.pi)
    target_area = np.diff(np.sin(np.deg2rad(np.linspace(-90, 90, N_LAT + 1))))[:, None]
    assert np.sum(out[0] * target_area) / np.sum(target_area * np.ones(N_LON)) == \
        pytest.approx(source_mean, rel=1e-12)
    np.testing.assert_allclose(out[1], 287.5, rtol=1e-13)


def test_sub_grid_waves_are_averaged_out_not_aliased():
    lat, lon = gefs_grid(0.25)
    wave = np.broadcast_to(np.sin(2 * np.pi * lon / 1.0), (lat.size, lon.size))  # 1° wavelength
    conservative = regrid(wave, lat, lon)
    padded = xr.DataArray(np.concatenate([wave[:, -4:], wave, wave[:, :4]], axis=1),
                          dims=("lat", "lon"),
                          coords={"lat": lat, "lon": np.concatenate([lon[-4:] - 360, lon,
                                                                     lon[:4] + 360])})
    bilinear = padded.interp(lat=TARGET_LAT, lon=TARGET_LON).values
    assert np.abs(bilinear).max() > 0.9  # point sampling aliases the wave at full amplitude
    assert np.abs(conservative).max() < 0.05  # what does not cancel within 22.5 source cells
    assert conservative[16, 2] == pytest.approx(brute_force_mean(wave, lat, lon, 16, 2), abs=2e-3)


def test_seam_and_source_order_do_not_matter():
    lat, lon = gefs_grid(1.0)
    field = smooth_field(lat, lon)
    reference = regrid(field, lat, lon)
    shifted = np.where(lon >= 180, lon - 360, lon)  # the same grid labelled -180..180
    np.testing.assert_allclose(regrid(field[::-1, ::-1], lat[::-1], shifted[::-1]), reference,
                               rtol=1e-13)
    # The cell on the seam, [357.1875°, 2.8125°], takes its western part from below 360°: a field
    # that is 1 in the source cells around 358° and 359° (357.5°–359.5°) and 0 elsewhere covers
    # 2° of its 5.625°.
    west = np.broadcast_to((lon >= 357.5).astype(float), field.shape)
    np.testing.assert_allclose(regrid(west, lat, lon)[:, 0], 2.0 / 5.625, rtol=1e-12)


def test_to_model_grid_accepts_any_dim_order_and_refuses_regional_grids():
    lat, lon = gefs_grid(2.0)
    field = xr.DataArray(np.stack([smooth_field(lat, lon)] * 2), dims=("step", "lat", "lon"),
                         coords={"lat": lat, "lon": lon})
    to_grid = ToModelGrid(N_LAT, N_LON)
    np.testing.assert_allclose(to_grid(field.transpose("lon", "step", "lat"), "z500")[0],
                               regrid(field.values[0], lat, lon), rtol=1e-13)
    regional = field.isel(lon=slice(0, 90))
    with pytest.raises(ValueError, match="z500 over Europe.*global"):
        to_grid(regional, "z500 over Europe")
