"""Metadata and check results the assets attach: sizes, summaries, validation outcomes."""


import xarray as xr
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from seeds_dag.conventions import validation_problems


def dataset_metadata(ds: xr.Dataset) -> dict:
    """Shape, size and per-variable means of a dataset, for the Dagster UI."""
    return {
        "dims": MetadataValue.json({k: int(v) for k, v in ds.sizes.items()}),
        "size_mb": round(ds.nbytes / 1e6, 2),
        "variable_means": MetadataValue.json(
            {name: round(float(ds[name].mean()), 4) for name in ds.data_vars}
        ),
    }


def validation_check(check_name: str, ds: xr.Dataset, dims: tuple[str, ...], where: str,
                     **kwargs) -> AssetCheckResult:
    """Validate a stored artifact as its readers will see it (grid, NaNs, ranges, members)."""
    problems = validation_problems(ds, dims, where, **kwargs)
    return AssetCheckResult(
        check_name=check_name,
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={"problems": MetadataValue.json(problems), "checked": where},
    )
