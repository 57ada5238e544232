"""The source resource: which source feeds the graph, its settings, and the experiment calendar."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from dagster import Config, ConfigurableResource, EnvVar
from pydantic import Field, field_validator, model_validator

from seeds_dag.conventions import EXPERIMENT_START, OutputGrid
from seeds_dag.sources.archive import era5, gefs
from seeds_dag.sources.archive.s3_io import RetryPolicy, S3Access
from seeds_dag.sources.archive.variables import CORE_VARIABLES, check_variables
from seeds_dag.sources.embedded.config import PerturbationConfig, check_lead_days
from seeds_dag.sources.embedded.source import EmbeddedSourceConfig

_DEFAULTS = EmbeddedSourceConfig()
_RETRY = RetryPolicy()
_S3 = S3Access()


class GefsSettings(Config):
    """Where GEFS lives (kind "gefs"). Defaults are NOAA's public buckets, read anonymously.

    Key templates are Python format strings with fields `init` (a timestamp: `{init:%Y%m%d%H}`),
    `member` (the member name), `file` (the variable's reforecast file stem, e.g.
    hgt_pres_abv700mb), `lead_hours` and `days` ("1-10" for leads up to 240 h, else "10-16").
    Credentials: leave `anon` True for the public buckets; otherwise set `anon=False` and either
    `key`/`secret` from the environment (`dg.EnvVar("AWS_ACCESS_KEY_ID")`, never literal) or
    nothing, to use botocore's usual chain (AWS_* variables, profiles, instance roles).
    """

    reforecast_bucket: str = gefs.REFORECAST_BUCKET
    reforecast_key: str = gefs.REFORECAST_KEY
    operational_bucket: str = gefs.OPERATIONAL_BUCKET
    operational_key: str = gefs.OPERATIONAL_KEY
    control_member: str = gefs.REFORECAST.control_member
    perturbed_member: str = gefs.REFORECAST.perturbed_member
    endpoint_url: str | None = None
    anon: bool = _S3.anon
    # Left out of repr/str, which exceptions and debuggers show.
    key: str | None = Field(default=None, repr=False)
    secret: str | None = Field(default=None, repr=False)
    read_timeout_s: float = _S3.read_timeout_s
    retry_attempts: int = _RETRY.attempts
    retry_base_delay_s: float = _RETRY.base_delay_s
    download_workers: int = gefs.REFORECAST.download_workers
    # "ranged": only the GRIB messages a partition needs (byte ranges); "whole": every object whole.
    read_mode: Literal["ranged", "whole"] = gefs.REFORECAST.read_mode


class Era5Settings(Config):
    """Where ERA5 lives (kind "gefs" takes its truth from it): a zarr store URL (gs:// or s3://)
    and fsspec options. The default is ARCO-ERA5 on Google Cloud, read anonymously
    (`{"token": "anon"}`). For an s3:// mirror use e.g. `{"anon": True}` or
    `{"client_kwargs": {"endpoint_url": ...}}`; credentials from the environment: `key`/`secret`
    (`dg.EnvVar`) are added to the options as s3fs's key/secret, or leave them out and let
    gcsfs/botocore find theirs (GOOGLE_APPLICATION_CREDENTIALS, AWS_* variables).
    """

    url: str = era5.ARCO_ERA5_URL
    storage_options: dict[str, Any] = Field(default_factory=lambda: {"token": "anon"})
    key: str | None = Field(default=None, repr=False)
    secret: str | None = Field(default=None, repr=False)
    times_per_read: int = era5.Era5Store.times_per_read


class SourceResource(ConfigurableResource):
    """Settings of the source and the calendar of the experiment.

    Reforecasts initialised in [reforecast_start, reforecast_end] train the models; operational
    ensembles may only be emulated for inits after reforecast_end + the longest lead, so that no
    training target overlaps a verification period. Defaults run the demo in minutes.

    `kind` picks the source: "embedded" (the physics model, default) or "gefs" (GEFSv12
    reforecast/operational GRIB2 from S3, truth from ERA5; settings in `gefs` and `era5`, and
    `variables` may add msl, t2m, tcwv). For "gefs" the truth covers start_date ..
    start_date + truth_days daily at 00 UTC; the spin-up settings are not used.

    Settings no run could use (an empty or unordered `lead_days`, fewer than one member, a negative
    length, an unknown variable, a training window that ends before it starts) are refused when
    the resource is built, naming the field: at code-location load for the definitions' settings,
    before the step's body for run config.
    """

    kind: Literal["embedded", "gefs"] = "embedded"
    start_date: str = _DEFAULTS.start_date
    spinup_days: int = Field(default=_DEFAULTS.spinup_days, ge=0)
    pool_days: int = Field(default=_DEFAULTS.pool_days, ge=0)
    truth_days: int = Field(default=_DEFAULTS.truth_days, ge=0)
    lead_days: list[int] = list(_DEFAULTS.lead_days)
    reforecast_members: int = Field(default=_DEFAULTS.reforecast_members, ge=1)
    operational_members: int = Field(default=_DEFAULTS.operational_members, ge=1)
    perturbation_amplitude: float = _DEFAULTS.perturbation.amplitude
    seed: int = _DEFAULTS.seed
    reforecast_start: str = EXPERIMENT_START
    reforecast_end: str = "2000-01-24"
    threads: int = 0
    variables: list[str] = Field(default_factory=lambda: list(CORE_VARIABLES))
    gefs: GefsSettings = Field(default_factory=GefsSettings)
    era5: Era5Settings = Field(default_factory=Era5Settings)

    @field_validator("lead_days")
    @classmethod
    def _leads_ascend_in_whole_days(cls, lead_days: list[int]) -> list[int]:
        return list(check_lead_days(lead_days, "source.lead_days"))

    @field_validator("variables")
    @classmethod
    def _known_variables(cls, variables: list[str]) -> list[str]:
        return list(check_variables(tuple(variables), "source.variables"))

    @model_validator(mode="after")
    def _calendar_and_variables_fit(self) -> SourceResource:
        start = _date(self.reforecast_start, "reforecast_start")
        end = _date(self.reforecast_end, "reforecast_end")
        _date(self.start_date, "start_date")
        if start > end:
            raise ValueError(f"source.reforecast_start={self.reforecast_start} is after "
                             f"source.reforecast_end={self.reforecast_end}: the training window "
                             "needs start ≤ end")
        first, last = gefs.REFORECAST_INITS
        if self.kind == "gefs" and not first <= start <= end <= last:
            raise ValueError(f"source.reforecast_start..reforecast_end={self.reforecast_start}.."
                             f"{self.reforecast_end}: the GEFSv12 reforecast holds inits "
                             f"{first:%Y-%m-%d}..{last:%Y-%m-%d} only")
        if self.kind == "embedded" and tuple(self.variables) != CORE_VARIABLES:
            raise ValueError(f"source.variables={self.variables}: the embedded source writes "
                             f"exactly {list(CORE_VARIABLES)}; extra variables need kind 'gefs'")
        return self

    def embedded_config(self) -> EmbeddedSourceConfig:
        return dataclasses.replace(
            _DEFAULTS,
            start_date=self.start_date,
            spinup_days=self.spinup_days,
            pool_days=self.pool_days,
            truth_days=self.truth_days,
            lead_days=tuple(self.lead_days),
            reforecast_members=self.reforecast_members,
            operational_members=self.operational_members,
            perturbation=dataclasses.replace(PerturbationConfig(),
                                             amplitude=self.perturbation_amplitude),
            seed=self.seed,
        )

    def grid(self) -> OutputGrid:
        return _DEFAULTS.grid

    def archive_variables(self) -> tuple[str, ...]:
        return tuple(self.variables)

    def gefs_archive(self, purpose: Literal["reforecast", "operational"]) -> gefs.GefsArchive:
        """The GEFS archive for reforecast shards or operational ensembles, from `gefs`."""
        settings = self.gefs
        base = gefs.REFORECAST if purpose == "reforecast" else gefs.OPERATIONAL
        bucket, key = ((settings.reforecast_bucket, settings.reforecast_key)
                       if purpose == "reforecast"
                       else (settings.operational_bucket, settings.operational_key))
        access = S3Access(endpoint_url=settings.endpoint_url, anon=settings.anon,
                          key=settings.key, secret=settings.secret,
                          read_timeout_s=settings.read_timeout_s)
        retry = dataclasses.replace(_RETRY, attempts=settings.retry_attempts,
                                    base_delay_s=settings.retry_base_delay_s)
        return dataclasses.replace(
            base, bucket=bucket, key_template=key, control_member=settings.control_member,
            perturbed_member=settings.perturbed_member, variables=self.archive_variables(),
            access=access, retry=retry, download_workers=settings.download_workers,
            read_mode=settings.read_mode)

    def era5_store(self) -> era5.Era5Store:
        settings = self.era5
        options = dict(settings.storage_options)
        if settings.key is not None:
            options.update(key=settings.key, secret=settings.secret)
        retry = dataclasses.replace(_RETRY, attempts=self.gefs.retry_attempts,
                                    base_delay_s=self.gefs.retry_base_delay_s)
        return era5.Era5Store(url=settings.url, storage_options=options,
                              variables=self.archive_variables(), retry=retry,
                              times_per_read=settings.times_per_read)

    def truth_times(self) -> pd.DatetimeIndex:
        """Daily 00 UTC times of the truth: start_date and the truth_days after it."""
        return pd.date_range(self.start_date, periods=self.truth_days + 1, freq="D")

    def reforecast_dates(self) -> list[str]:
        """Partition keys of the training reforecasts."""
        dates = pd.date_range(self.reforecast_start, self.reforecast_end, freq="D")
        return [d.strftime("%Y-%m-%d") for d in dates]

    def first_operational_date(self) -> pd.Timestamp:
        """The first operational init whose forecasts overlap no training reforecast's valid
        times: the day after reforecast_end + the longest lead."""
        return pd.Timestamp(self.reforecast_end) + pd.Timedelta(days=max(self.lead_days) + 1)

    def last_verified_date(self) -> pd.Timestamp:
        """The last init whose every lead the truth covers (start_date + truth_days)."""
        return (pd.Timestamp(self.start_date)
                + pd.Timedelta(days=self.truth_days - max(self.lead_days)))

    def check_operational_date(self, partition_key: str) -> None:
        """Refuse an operational init whose forecasts could overlap the training period."""
        first_allowed = self.first_operational_date()
        if pd.Timestamp(partition_key) < first_allowed:
            raise ValueError(
                f"operational init {partition_key} overlaps the training reforecasts "
                f"({self.reforecast_start}..{self.reforecast_end}, leads to {max(self.lead_days)} "
                f"days); use an init from {first_allowed:%Y-%m-%d}"
            )


SETTINGS_ENV_VAR = "SEEDS_DAG_SOURCE"
"""A YAML file of the definitions' `source` settings (the resource's fields, as under
`resources.source.config` in run config). Read when the code location loads, because the
partitions of the reforecast and operational assets follow them (`assets/partitions.py`)."""


def source_from_environment() -> SourceResource:
    """The `source` resource of the definitions: the settings in the YAML file $SEEDS_DAG_SOURCE,
    or the defaults where it is unset; credentials as `{env: NAME}`, never literal. A file that is
    missing, not a mapping, or holds settings the resource refuses is an error naming the file."""
    path = os.environ.get(SETTINGS_ENV_VAR)
    if not path:
        return SourceResource()
    try:
        settings = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"${SETTINGS_ENV_VAR}={path}: cannot read the source settings: {err}") from None
    if not isinstance(settings, dict):
        raise ValueError(f"${SETTINGS_ENV_VAR}={path}: expected a mapping of source settings, "
                         f"got {type(settings).__name__}")
    try:
        return SourceResource(**_env_vars(settings))
    except ValueError as err:
        raise ValueError(f"${SETTINGS_ENV_VAR}={path}: {err}") from None


def _env_vars(value: Any) -> Any:
    """`{env: NAME}` (how run config names an environment variable, for credentials) as
    `EnvVar(NAME)`, which Dagster reads when the resource is used, at any depth of `value`."""
    if isinstance(value, dict):
        if set(value) == {"env"}:
            return EnvVar(value["env"])
        return {name: _env_vars(item) for name, item in value.items()}
    return value


def _date(value: str, field: str) -> pd.Timestamp:
    """The date a `source` field holds, or an error naming the field."""
    try:
        return pd.Timestamp(value)
    except ValueError as err:
        raise ValueError(f"source.{field}={value!r} is not a date (YYYY-MM-DD): {err}") from None
