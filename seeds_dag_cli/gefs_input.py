"""A GEFS operational forecast as `seeds-dag emulate --gefs INIT` reads it: GRIB2 from NOAA's
bucket (or a mirror) through the project's archive reader (`seeds_dag.sources.archive.gefs`: only
the messages needed, by byte ranges, checked, mapped to our names and units, regridded to the
model grid), at the leads the model was trained on.

Members 0 (c00) up to the highest seed are read, so that a seed's position in the forecast is its
member number: the provenance then names the members of the full GEFS ensemble a later `score`
compares with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import xarray as xr

from seeds_dag.conventions import OutputGrid
from seeds_dag.sources.archive.gefs import OPERATIONAL, gefs_forecast
from seeds_dag.sources.archive.s3_io import S3Access


def member_numbers(seeds: Sequence[str]) -> list[int]:
    """GEFS member numbers of `seeds` given as names (c00, p03) or numbers (0, 3)."""
    names = {OPERATIONAL.member_name(number): number for number in range(OPERATIONAL.max_members)}
    numbers = []
    for seed in seeds:
        if seed in names:
            numbers.append(names[seed])
        elif seed.isdigit() and int(seed) < OPERATIONAL.max_members:
            numbers.append(int(seed))
        else:
            raise ValueError(f"{OPERATIONAL.name}: seed {seed!r} is not one of its members (c00, p01 .. "
                             f"p{OPERATIONAL.max_members - 1:02d}, or their numbers)")
    return numbers


def gefs_operational(init: str, seeds: Sequence[str], lead_days: Sequence[float],
                     endpoint_url: str | None) -> tuple[xr.Dataset, list[str]]:
    """The GEFS operational forecast of `init` (00 UTC) at `lead_days` (whole days) for members 0
    up to the highest of `seeds`, on the model grid, and the seeds as labels of its member
    coordinate. `endpoint_url`: another S3 service than AWS (a mirror); read anonymously."""
    whole = [int(day) for day in lead_days]
    if whole != list(lead_days):
        raise ValueError(f"{OPERATIONAL.name}: the model's leads {list(lead_days)} are not whole days")
    numbers = member_numbers(seeds)
    archive = dataclasses.replace(OPERATIONAL, access=S3Access(endpoint_url=endpoint_url))
    forecast = gefs_forecast(archive, init, list(range(max(numbers) + 1)), whole, OutputGrid())
    return forecast, [str(number) for number in numbers]
