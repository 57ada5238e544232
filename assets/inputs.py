"""Reading the partitions an asset depends on, with errors that name what is missing."""


import xarray as xr

from seeds_dag.store import ArtifactStore


def open_partitions(store: ArtifactStore, asset: str, keys: list[str]) -> xr.Dataset:
    """Concatenate committed partitions of a forecast asset along init_time, lazily (dask)."""
    missing = [k for k in keys if not store.has(asset, k)]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise FileNotFoundError(
            f"{asset}: {len(missing)} of {len(keys)} partitions are not materialised: {shown}"
        )
    return xr.concat([store.open_dataset(asset, k, chunks={}) for k in keys], dim="init_time")
