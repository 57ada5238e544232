"""Reading the partitions an asset depends on, checked, with errors that name what is wrong."""


import numpy as np
import xarray as xr

from seeds_dag.conventions import FORECAST_DIMS, DataValidationError, validate
from seeds_dag.store import ArtifactStore

SHARED_COORDS = ("lead_time", "member", "lat", "lon")
"""Coordinates every partition of a forecast asset must share to be concatenated along init_time
(xarray would otherwise align them by filling NaN)."""


def open_partitions(store: ArtifactStore, asset: str, keys: list[str], *,
                    load: bool = False) -> xr.Dataset:
    """Concatenate committed partitions of a forecast asset along init_time, each checked first.

    Every partition is read whole, one at a time, and refused unless it is intact
    (`ArtifactStore.load_dataset`: `CorruptArtifactError` for missing or undecodable chunks),
    follows the conventions (`validate`: dims, grid, float32, no NaN/inf, physical ranges), holds
    the init time of its key and the same lead times, members and grid as the first partition
    (`DataValidationError`); every error names `asset[key]` and the variable at fault. So damage
    done to a shard after its asset check passed cannot reach what is computed from it.

    load: return the datasets read for the checks (all in memory); False opens them again lazily
    (dask), so memory stays bounded by one partition at the cost of reading each twice.
    """
    missing = [k for k in keys if not store.has(asset, k)]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise FileNotFoundError(
            f"{asset}: {len(missing)} of {len(keys)} partitions are not materialised: {shown}"
        )
    parts, first = [], None
    for key in keys:
        ds = validate(store.load_dataset(asset, key), FORECAST_DIMS, f"{asset}[{key}]")
        _check_partition(ds, asset, key, first)
        first = first or (key, ds)
        parts.append(ds if load else store.open_dataset(asset, key, chunks={}))
    return xr.concat(parts, dim="init_time")


def _check_partition(ds: xr.Dataset, asset: str, key: str,
                     first: tuple[str, xr.Dataset] | None) -> None:
    init = ds["init_time"].values.astype("datetime64[D]").astype(str).tolist()
    if init != [key]:
        raise DataValidationError(f"{asset}[{key}]: holds init_time {init}, expected [{key!r}]")
    if first is None:
        return
    first_key, reference = first
    for name in SHARED_COORDS:
        if not np.array_equal(ds[name].values, reference[name].values):
            raise DataValidationError(
                f"{asset}[{key}]: coordinate {name!r} ({_summary(ds[name])}) differs from that of "
                f"{asset}[{first_key}] ({_summary(reference[name])})"
            )


def _summary(coord: xr.DataArray) -> str:
    values = coord.values
    return f"{values.size} values" + (f", {values[0]} .. {values[-1]}" if values.size else "")
