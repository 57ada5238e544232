"""First-order conservative regridding from the archives' global lat–lon grids to the model grid.

Why conservative, not interpolation. The archives are fine (GEFS 0.5°/0.25°, ERA5 0.25°) and the
model grid coarse (5.625°, cell centres): a target cell covers ~500 ERA5 points. Bilinear
interpolation (`xarray.interp`) point-samples the fine field at the target centres, so every scale
the coarse grid cannot hold aliases into it, and area means drift. The conservative value of a
target cell is the area-weighted mean of the source cells it overlaps — what a 5.625° state means.
Measured on a global 0.25° field regridded to 32 × 64 (2026-11, this machine):

| field                                  | bilinear (lon padded)        | conservative (this module) |
|----------------------------------------|------------------------------|----------------------------|
| 1°-wavelength zonal wave, amplitude 1  | aliased, max amplitude 1.0   | max 0.044 (*)              |
| smooth z500-like field, global mean    | relative error 1.4e-5        | 1.6e-16                    |

(*) the true mean of the wave's 0.25° cells over a 5.625° cell: 22.5 source cells do not cancel.

How. The archive grids do not nest in 5.625° cells (22.5 and 11.25 source cells per target
cell), so block averaging does not apply: cells overlap partially. On the sphere
dA = dλ·d(sin φ), so the overlap of a target and a source cell is exactly (longitude overlap) ×
(sin-latitude overlap), and regridding is two small dense products W_lat · f · W_lonᵀ with rows
normalised to 1 (the factorisation S. Hoyer described for rectilinear grids, pangeo discourse
#2715). Cells at ±90° are clipped to the pole; the longitude seam is periodic by construction (a
target cell centred on 0° takes its western half from just below 360°).

Why not a library. xESMF needs ESMF from conda. xarray-regrid (PyPI, pure Python, with flox)
implements the same factorisation, but weights a source cell straddling a target edge by its own
area, not by the exact overlap: against brute-force cell means of a 1° field it is off by up to
0.06 on values of ~5500 where this module is off by < 0.002 (the brute force's own error), and
its global mean is off by 4e-8 on a 0.25° field. It also rebuilds its weights on every call: per
field, 56 / 15 / 13 ms at 0.25° / 0.5° / 1° against 2.7 / 0.5 / 0.2 ms here after a one-off
7 / 1 / 0.6 ms build (this 2-core machine, one BLAS thread each), and a partition reads hundreds
of fields on a handful of grids. Exact weights, reused, with no extra dependency, ~100 lines.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import xarray as xr
from threadpoolctl import ThreadpoolController

from seeds_dag.conventions import regular_latitudes, regular_longitudes

FULL_CIRCLE = 360.0
# A longitude grid with a gap wider than this many median spacings is not global.
_MAX_GAP_RATIO = 1.5


@functools.cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def _latitude_edges(ascending: np.ndarray) -> np.ndarray:
    """Cell edges of ascending centres: midpoints, the outer cells clipped at the poles."""
    mid = (ascending[1:] + ascending[:-1]) / 2
    first = ascending[0] - (ascending[1] - ascending[0]) / 2
    last = ascending[-1] + (ascending[-1] - ascending[-2]) / 2
    return np.clip(np.concatenate([[first], mid, [last]]), -90.0, 90.0)


def _longitude_edges(ascending: np.ndarray, where: str) -> np.ndarray:
    """Edges of ascending centres in [0, 360) around the circle: n + 1 values, last = first + 360."""
    previous = np.concatenate([[ascending[-1] - FULL_CIRCLE], ascending[:-1]])
    gaps = ascending - previous
    if gaps.max() > _MAX_GAP_RATIO * np.median(gaps):
        raise ValueError(
            f"{where}: longitudes {ascending[0]:g}..{ascending[-1]:g} leave a gap of "
            f"{gaps.max():g}° (spacing {np.median(gaps):g}°); conservative regridding to the "
            "model grid needs a global grid")
    lower = (previous + ascending) / 2
    return np.concatenate([lower, [lower[0] + FULL_CIRCLE]])


def _overlaps(target_edges: np.ndarray, source_edges: np.ndarray) -> np.ndarray:
    """Lengths of intersection of target cells (rows) with source cells (columns), 1-D."""
    lo = np.maximum(target_edges[:-1, None], source_edges[None, :-1])
    hi = np.minimum(target_edges[1:, None], source_edges[None, 1:])
    return np.clip(hi - lo, 0.0, None)


def _weights(overlap: np.ndarray, source_order: np.ndarray, target_order: np.ndarray,
             what: str) -> np.ndarray:
    """Row-normalised weights, rows and columns put back from sorted into the callers' order."""
    total = overlap.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise ValueError(f"{what}: {int(np.sum(total <= 0))} target cell(s) overlap no source cell")
    weights = np.empty_like(overlap)
    weights[np.ix_(target_order, source_order)] = overlap / total
    return weights


def latitude_weights(source: np.ndarray, target: np.ndarray, where: str) -> np.ndarray:
    """(n_target, n_source) weights from the overlap in sin(latitude), which is ∝ area."""
    if source.size < 2 or target.size < 2:
        raise ValueError(f"{where}: latitude grids need at least 2 points")
    source_order, target_order = np.argsort(source), np.argsort(target)
    source_edges = np.sin(np.deg2rad(_latitude_edges(source[source_order])))
    target_edges = np.sin(np.deg2rad(_latitude_edges(target[target_order])))
    return _weights(_overlaps(target_edges, source_edges), source_order, target_order,
                    f"{where}: latitude")


def longitude_weights(source: np.ndarray, target: np.ndarray, where: str) -> np.ndarray:
    """(n_target, n_source) weights from the periodic overlap in longitude."""
    if source.size < 2 or target.size < 2:
        raise ValueError(f"{where}: longitude grids need at least 2 points")
    source, target = np.mod(source, FULL_CIRCLE), np.mod(target, FULL_CIRCLE)
    source_order, target_order = np.argsort(source), np.argsort(target)
    source_edges = _longitude_edges(source[source_order], where)
    target_edges = _longitude_edges(target[target_order], where)
    # Both edge sets start at most half a cell below 0°: shifting the source by ±360° finds every
    # overlap across the seam.
    overlap = sum(_overlaps(target_edges, source_edges + shift)
                  for shift in (-FULL_CIRCLE, 0.0, FULL_CIRCLE))
    return _weights(overlap, source_order, target_order, f"{where}: longitude")


@dataclasses.dataclass(frozen=True)
class ConservativeRegridder:
    """Maps fields (..., n_lat_source, n_lon_source) to (..., n_lat_target, n_lon_target)."""

    lat_weights: np.ndarray  # (n_lat_target, n_lat_source), rows sum to 1
    lon_weights: np.ndarray  # (n_lon_target, n_lon_source), rows sum to 1

    @classmethod
    def between(cls, source_lat: np.ndarray, source_lon: np.ndarray, target_lat: np.ndarray,
                target_lon: np.ndarray, where: str = "regridding") -> ConservativeRegridder:
        """Coordinates in degrees, in any order (GRIB and ERA5 latitudes descend)."""
        as_float = lambda a: np.asarray(a, np.float64)
        return cls(latitude_weights(as_float(source_lat), as_float(target_lat), where),
                   longitude_weights(as_float(source_lon), as_float(target_lon), where))

    def __call__(self, values: np.ndarray) -> np.ndarray:
        # One BLAS thread: the products are small (≤ 33 M multiply-adds per 0.25° field) and
        # threads only add synchronisation; on this busy 2-core machine 2 threads made a 1° field
        # take 63 ms instead of 0.5 ms.
        with _blas().limit(limits=1, user_api="blas"):
            return self.lat_weights @ np.asarray(values, np.float64) @ self.lon_weights.T


class ToModelGrid:
    """Regrids `xarray` fields (..., lat, lon) to the model grid (`n_lat` × `n_lon` cell centres,
    `conventions.regular_latitudes/longitudes`), building the weights once per source grid."""

    def __init__(self, n_lat: int, n_lon: int) -> None:
        self.lat = regular_latitudes(n_lat)
        self.lon = regular_longitudes(n_lon)
        self._regridders: dict[tuple[bytes, bytes], ConservativeRegridder] = {}

    def __call__(self, field: xr.DataArray, where: str) -> np.ndarray:
        """`field`'s values on the model grid, float64, dims (..., lat, lon) in `field`'s order
        of the other dims; `where` names the field in errors."""
        field = field.transpose(..., "lat", "lon")
        lat, lon = field["lat"].values, field["lon"].values
        key = (lat.tobytes(), lon.tobytes())
        if key not in self._regridders:
            self._regridders[key] = ConservativeRegridder.between(lat, lon, self.lat, self.lon,
                                                                  where)
        return self._regridders[key](field.values)
