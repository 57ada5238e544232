"""Metadata and check results the assets attach: sizes, summaries, validation outcomes, and the
process that ran the step."""


import os
import socket
from collections.abc import Mapping

import pandas as pd
import xarray as xr
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
)

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


def worker_metadata() -> dict[str, str | int]:
    """The host and process id of the process running the step: with a distributed executor
    (dask, Celery, k8s) they tell which worker made a materialisation."""
    return {"worker_host": socket.gethostname(), "worker_pid": os.getpid()}


def _column_type(column: pd.Series) -> str:
    """The Dagster table column type of a pandas column."""
    if pd.api.types.is_bool_dtype(column):
        return "bool"
    if pd.api.types.is_integer_dtype(column):
        return "int"
    return "float" if pd.api.types.is_float_dtype(column) else "string"


def table_metadata(frame: pd.DataFrame) -> MetadataValue:
    """A DataFrame as a Dagster table, which the UI can sort: named index levels become the
    first columns, NaN an empty cell, and each column's type follows its dtype."""
    flat = frame.reset_index() if any(frame.index.names) else frame
    flat = flat.set_axis([str(c) for c in flat.columns], axis=1)
    schema = TableSchema(columns=[TableColumn(name, _column_type(flat[name])) for name in flat])
    cells = flat.astype(object).where(flat.notna(), None)
    return MetadataValue.table([TableRecord(row) for row in cells.to_dict("records")], schema)


def validation_check(check_name: str, datasets: Mapping[str, xr.Dataset], dims: tuple[str, ...],
                     **kwargs) -> AssetCheckResult:
    """Validate stored artifacts as their readers will see them (grid, NaNs, ranges, members):
    `datasets` maps where each is (`asset[key]`) to it; the check passes when all do, and lists
    every problem found."""
    problems = [problem for where, ds in datasets.items()
                for problem in validation_problems(ds, dims, where, **kwargs)]
    return AssetCheckResult(
        check_name=check_name,
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={"problems": MetadataValue.json(problems), "checked": ", ".join(datasets)},
    )
