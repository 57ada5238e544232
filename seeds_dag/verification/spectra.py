"""Zonal power spectra: how much variance each zonal wavenumber holds, a check that generated
members have the spatial texture of real fields (a blurry emulator loses power at high k).

Fields live on a regular latitude-longitude grid with equally spaced longitudes covering the
circle (seeds_dag.conventions).
"""

import numpy as np
import xarray as xr

from seeds_dag.conventions import INIT, LAT, LON, MEMBER
from seeds_dag.weighting import spatial_mean

WAVENUMBER = "wavenumber"


def _check_longitudes(lon: np.ndarray) -> None:
    """The FFT assumes n equally spaced longitudes around the whole circle."""
    n = lon.size
    steps = np.diff(lon)
    if n < 2 or not np.allclose(steps, 360.0 / n):
        raise ValueError(
            f"zonal_power_spectrum: longitudes must be {n} equally spaced values around the "
            f"circle (step {360.0 / max(n, 1)} degrees), got steps in "
            f"[{steps.min(initial=np.nan)}, {steps.max(initial=np.nan)}]"
        )


def _one_sided_power(x: np.ndarray) -> np.ndarray:
    """Power per wavenumber k = 0..n//2 along the last axis, one-sided, so that
    sum_k P_k = 1/n sum_j x_j^2 (Parseval).

    With X_k = 1/n sum_j x_j exp(-2 pi i j k / n): P_k = |X_k|^2 for k = 0 and (n even)
    k = n/2, which have no mirror image, and 2 |X_k|^2 for the others, which stand for k and -k.
    """
    n = x.shape[-1]
    coefficients = np.fft.rfft(x.astype(np.float64), axis=-1) / n
    power = np.abs(coefficients) ** 2
    power[..., 1 : (n + 1) // 2] *= 2
    return power


def zonal_power_spectrum(field: xr.DataArray | xr.Dataset) -> xr.DataArray | xr.Dataset:
    """Zonal power spectrum along each latitude circle.

    Args:
        field: (..., lon), any other dims kept; n = lon equally spaced around the circle.

    Returns:
        (..., wavenumber) with wavenumber k = 0..n//2 (cycles per circle), in the field's units
        squared; summing over k gives the mean square of the field along the circle.
    """
    lon = np.asarray(field[LON])
    _check_longitudes(lon)
    spectrum = xr.apply_ufunc(
        _one_sided_power, field, input_core_dims=[[LON]], output_core_dims=[[WAVENUMBER]],
        exclude_dims={LON},
    )
    return spectrum.assign_coords({WAVENUMBER: np.arange(lon.size // 2 + 1)})


def mean_zonal_spectrum(fields: xr.Dataset) -> xr.Dataset:
    """Zonal power spectrum averaged over latitudes with cos(lat) weights (a latitude circle's
    share of the sphere), then over members and inits where those dims are present.

    Args:
        fields: (init_time, lead_time, [member,] lat, lon): a forecast or aligned truth.

    Returns:
        (lead_time, wavenumber) per variable, in the variable's units squared.
    """
    spectrum = spatial_mean(zonal_power_spectrum(fields), dims=(LAT,))
    return spectrum.mean([d for d in (MEMBER, INIT) if d in spectrum.dims])
