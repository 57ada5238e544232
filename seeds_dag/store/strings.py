"""Text variables stored in the one form the zarr v3 specification defines.

numpy's fixed-width unicode (`<U3`, how xarray holds labels such as the `model` and `statistic`
coordinates) has no zarr v3 specification: zarr-python writes it as its own extension, warns on
every write that other zarr libraries may not read it, and may change its layout. zarr v3's
`string` data type (variable-length UTF-8) is specified; zarr-python writes it for object arrays of
`str`. So text is written as object arrays and read back as the fixed-width arrays the rest of the
code, and xarray's indexes, were built with.
"""

from __future__ import annotations

import numpy as np
import xarray as xr


def with_specified_strings(ds: xr.Dataset) -> xr.Dataset:
    """`ds` with every fixed-width unicode variable (coordinate or data) as an object array of
    `str`, which zarr writes as its specified variable-length `string` type. Text is loaded here:
    xarray loads an object array to encode it anyway, and warns when it has to load a dask one."""
    text = {
        name: xr.Variable(var.dims, np.asarray(var.values, dtype=object), var.attrs, var.encoding)
        for name, var in ds.variables.items()
        if var.dtype.kind == "U"
    }
    if not text:
        return ds
    coords = {name: var for name, var in text.items() if name in ds.coords}
    data = {name: var for name, var in text.items() if name not in ds.coords}
    return ds.assign_coords(coords).assign(data)


def with_fixed_width_strings(ds: xr.Dataset) -> xr.Dataset:
    """`ds` as written before `with_specified_strings`: text coordinates read back (numpy's
    variable-width `StringDType`, or object) as fixed-width unicode. Only coordinates are
    converted; they are small and loaded with the dataset's indexes. A lazily read text *data*
    variable stays as read (no asset stores one). Through Python strings: numpy casts no
    `StringDType` to a fixed width."""
    text = {
        name: (coord.dims, np.array(coord.values.tolist(), dtype=str), coord.attrs)
        for name, coord in ds.coords.items()
        if coord.dtype.kind in "OT" and _holds_only_str(coord.values)
    }
    return ds.assign_coords(text) if text else ds


def _holds_only_str(values: np.ndarray) -> bool:
    """True for variable-width text; an object array of other things (none is stored) is left as it is."""
    return values.dtype.kind == "T" or all(isinstance(item, str) for item in values.ravel())
