"""Settings no run could use are refused where they enter, naming the field and what it allows:
when the resource or config is built (the definitions' own at code-location load, run config's
when Dagster builds them for the step, before its body), and what needs the trained model when
the sampling step loads it, before it samples."""

import dataclasses
import re

import numpy as np
import pytest
import torch
from dagster import DagsterInstance, DagsterResourceFunctionError, RunConfig, materialize
from forecast_shards import (
    COMPUTE,
    INITS,
    LAT,
    LEAD_DAYS,
    LON,
    N_MEMBERS,
    TRAINING,
    in_memory,
    shard,
    write_shards,
)
from pydantic import ValidationError

from assets.definitions import ALL_ASSETS, assets_for
from assets.ensembles import EmulationConfig
from assets.model_files import EMULATOR, MODEL, POST_PROCESSOR, load_model
from resources import SourceResource, StorageResource
from seeds_dag.checkpoints import StoreCheckpointIO
from seeds_dag.conventions import VARIABLES
from seeds_dag.normalization import compute_normalization, to_normalized_array
from seeds_dag.seed_anomalies import seed_spread
from seeds_dag.sources.archive.variables import CORE_VARIABLES
from seeds_dag.store import ArtifactStore
from seeds_dag.training import train_generator

CPU = torch.device("cpu")
# The first init whose forecasts cannot overlap the training window (INITS, leads to 2 days).
OPERATIONAL_INIT = "2000-01-05"
SOURCE = SourceResource(reforecast_start=INITS[0], reforecast_end=INITS[-1], lead_days=LEAD_DAYS,
                        reforecast_members=N_MEMBERS, operational_members=N_MEMBERS)


def refused(field_message: str):
    """pytest.raises for a pydantic refusal whose message holds `field_message` verbatim."""
    return pytest.raises(ValidationError, match=re.escape(field_message))


def below(field: str, bound: int):
    """pytest.raises for pydantic's refusal of `field` below `bound` (a Field(ge=bound))."""
    return pytest.raises(ValidationError,
                         match=rf"\n{field}\n\s+Input should be greater than or equal to {bound} ")


def test_a_training_window_that_ends_before_it_starts():
    with refused("source.reforecast_start=2000-01-24 is after source.reforecast_end=2000-01-01"):
        SourceResource(reforecast_start="2000-01-24", reforecast_end="2000-01-01")


@pytest.mark.parametrize("field", ["start_date", "reforecast_start", "reforecast_end"])
def test_a_date_that_is_no_date(field):
    with refused(f"source.{field}='2000-13-01' is not a date (YYYY-MM-DD)"):
        SourceResource(**{field: "2000-13-01"})


@pytest.mark.parametrize("lead_days", [[], [3, 1], [1, 1], [0, 1]])
def test_lead_days_empty_repeated_or_out_of_order(lead_days):
    with refused(f"source.lead_days={lead_days}: expected at least one lead, in whole days ascending from 1"):
        SourceResource(lead_days=lead_days)


@pytest.mark.parametrize("field", ["reforecast_members", "operational_members"])
@pytest.mark.parametrize("members", [0, -1])
def test_a_forecast_of_fewer_than_one_member(field, members):
    with below(field, 1):
        SourceResource(**{field: members})


@pytest.mark.parametrize("field", ["spinup_days", "pool_days", "truth_days"])
def test_a_negative_length(field):
    with below(field, 0):
        SourceResource(**{field: -1})


@pytest.mark.parametrize("members", [0, -4])
def test_fewer_than_one_emulated_member(members):
    with below("n_members", 1):
        EmulationConfig(n_members=members)


def test_an_unknown_variable():
    with refused("source.variables: unknown variable(s) ['rh700']; the archives provide ['msl', 'sp', "):
        SourceResource(kind="gefs", variables=[*CORE_VARIABLES, "rh700"])


@pytest.mark.parametrize("window", [("1999-12-31", "2000-01-24"), ("2019-12-01", "2020-01-01")])
def test_a_training_window_outside_the_gefs_reforecast(window):
    with refused(f"source.reforecast_start..reforecast_end={window[0]}..{window[1]}: the GEFSv12 "
                 "reforecast holds inits 2000-01-01..2019-12-31 only"):
        SourceResource(kind="gefs", reforecast_start=window[0], reforecast_end=window[1])


def test_a_variable_the_embedded_source_does_not_write():
    with refused("the embedded source writes exactly ['z500', 't850', 'u850', 'v850', 'sp']; extra "
                 "variables need kind 'gefs'"):
        SourceResource(variables=[*CORE_VARIABLES, "msl"])
    assert SourceResource(kind="gefs", variables=[*CORE_VARIABLES, "msl"]).archive_variables()[-1] == "msl"


def test_seed_members_outside_every_forecast():
    """Below 0 at once; above the forecast's last member where the step first knows its size, the
    source (tests/assets/test_recovery.py: refused by the asset before any work)."""
    with refused("daily_emulated_ensembles.seed_members=[-1, 0]: members are numbered from 0"):
        EmulationConfig(seed_members=[-1, 0])


def test_a_sampler_setting_no_solver_takes():
    with refused("unknown solver 'euler': choose one of ['dpm_solver_2m', 'heun']"):
        EmulationConfig(solver="euler")


def test_source_settings_in_run_config_are_refused_before_the_step_runs(tmp_path):
    """Dagster builds the resource from run config when the step starts: the refusal comes from
    there (the truth step would otherwise fail on the missing spin-up, or run)."""
    with pytest.raises(DagsterResourceFunctionError) as raised:
        materialize(ALL_ASSETS, selection=["truth"],
                    resources={"storage": StorageResource(root=str(tmp_path)), "compute": COMPUTE,
                               "source": SourceResource.configure_at_launch()},
                    run_config={"resources": {"source": {"config": {"lead_days": []}}}},
                    instance=DagsterInstance.ephemeral())
    assert "source.lead_days=[]: expected at least one lead" in str(raised.value.__cause__)
    assert not ArtifactStore(str(tmp_path)).has("truth")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ArtifactStore:
    """Shards and their statistics, an operational forecast of N_MEMBERS members, and one model
    file (trained a step with TrainingConfig's K = 2 seeds) as both the emulator and the
    post-processor."""
    store = ArtifactStore(str(tmp_path_factory.mktemp("settings")))
    write_shards(store)
    shards = in_memory(store)[list(VARIABLES)]
    stats = compute_normalization(shards)
    store.write_dataset(stats, "normalization_stats")
    store.write_dataset(shard(OPERATIONAL_INIT, seed=len(INITS)), "operational_ensemble", OPERATIONAL_INIT)
    data = to_normalized_array(shards, stats, list(VARIABLES))
    one_step = dataclasses.replace(TRAINING.training(batch_size=1), steps=1, checkpoint_every=1)
    train_generator(data, np.array(LEAD_DAYS, dtype=float),
                    seed_spread(stats, list(VARIABLES), shards["lead_time"].values), LAT, LON,
                    TRAINING.denoiser(len(LEAD_DAYS)), TRAINING.objective(), one_step,
                    StoreCheckpointIO(store, EMULATOR, MODEL), CPU)
    store.write_bytes(POST_PROCESSOR, MODEL, store.read_bytes(EMULATOR, MODEL))
    return store


def test_a_model_of_other_leads_than_the_forecasts(store):
    """Numpy's "operands could not be broadcast" before: now both sets of leads, named."""
    with pytest.raises(ValueError, match=re.escape("checkpoint generates trajectories at lead days "
                                                   "[1.0, 2.0], asked for [1.0, 2.0, 3.0]")) as raised:
        load_model(store, EMULATOR, LAT, LON, np.array([1.0, 2.0, 3.0]), 2, CPU)
    assert any(f"{EMULATOR}" in note and MODEL in note for note in raised.value.__notes__)


def test_a_K_the_models_were_not_trained_with_is_refused_before_sampling(store):
    """K = 3 seeds of a 3-member forecast are valid members, but the models learned from 2: the
    sampling step refuses when it loads them, and writes nothing."""
    with pytest.raises(ValueError, match=re.escape("checkpoint was trained with K = [2] seed members, "
                                                   "asked to sample from K = 3")):
        materialize(assets_for(SOURCE), selection=["daily_emulated_ensembles"], partition_key=OPERATIONAL_INIT,
                    resources={"storage": StorageResource(root=store.root), "compute": COMPUTE,
                               "source": SOURCE},
                    run_config=RunConfig(ops={"daily_emulated_ensembles": EmulationConfig(
                        n_members=2, seed_members=[0, 1, 2])}),
                    instance=DagsterInstance.ephemeral())
    assert store.partitions("daily_emulated_ensembles") == []
