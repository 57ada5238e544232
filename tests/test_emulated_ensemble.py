"""The one emulate-and-write function: what it writes equals what it makes in memory, the
artifact records what produced it, and what is not a valid request is refused by name."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from seeds_dag.conventions import (
    FORECAST_DIMS,
    KNOWN_VARIABLES,
    VARIABLES,
    DataValidationError,
    regular_latitudes,
    regular_longitudes,
)
from seeds_dag.emulated_ensemble import (
    EnsembleProvenance,
    check_seed_members,
    emulated_ensemble,
    write_emulated_ensemble,
)
from seeds_dag.emulation import SamplerConfig, forecast_seed
from seeds_dag.generators.kinds import build_model, objective_for
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.normalization import compute_normalization
from seeds_dag.post_processing import PostProcessingFrame
from seeds_dag.store import ArtifactStore

LAT, LON = regular_latitudes(8), regular_longitudes(16)
LEADS = [1, 3]
INIT = "2000-02-01"
N_PHYSICS = 5


@pytest.fixture(scope="module")
def forecast() -> xr.Dataset:
    """A one-init forecast of every variable: unit noise around the middle of its range."""
    rng = np.random.default_rng(0)
    shape = (1, len(LEADS), N_PHYSICS, LAT.size, LON.size)
    middle = {name: (var.valid_min + var.valid_max) / 2 for name, var in KNOWN_VARIABLES.items()}
    return xr.Dataset(
        {name: (FORECAST_DIMS, (middle[name] + rng.normal(size=shape)).astype(np.float32))
         for name in VARIABLES},
        coords={"init_time": pd.to_datetime([INIT]), "lead_time": pd.to_timedelta(LEADS, unit="D"),
                "member": np.arange(N_PHYSICS), "lat": LAT, "lon": LON})


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    network = DenoiserConfig(channels=(8, 16), embed_dim=16, num_variables=len(VARIABLES),
                             num_leads=len(LEADS), noise_dim=8)
    return build_model(objective_for("crps"), network, LAT, LON).eval().requires_grad_(False)


def test_the_written_ensemble_is_the_one_made_in_memory_and_says_what_made_it(forecast, model,
                                                                               tmp_path):
    stats = compute_normalization(forecast)
    store = ArtifactStore(str(tmp_path))
    sampler = SamplerConfig(num_steps=2)
    members_written = []
    timing = write_emulated_ensemble(
        store, "emulated", INIT, forecast, stats, {"gee": model}, model_versions={"gee": "abc"},
        seed_members=[3, 1], n_members=6, batch_size=4, sampler=sampler, seed=7, stack_models=False,
        on_members=members_written.append)
    assert members_written == [4, 6]
    assert set(timing.model_seconds) == {"gee"} and timing.seconds > 0
    assert 0 < timing.zarr_s < timing.seconds and 0 < timing.normalisation_s < timing.seconds
    stored = store.load_dataset("emulated", INIT)
    made = emulated_ensemble(model, forecast, stats, seed_members=[3, 1], n_members=6,
                             batch_size=3, sampler=sampler, seed=7)
    for name in VARIABLES:  # batch sizes 4 and 3: each member is the same sample either way
        np.testing.assert_allclose(stored[name].values, made[name].values, rtol=1e-6, atol=1e-3)
    provenance = EnsembleProvenance.of(stored, "test")
    assert provenance == EnsembleProvenance(
        init_time=INIT, seed_members=(3, 1), n_members=6, sampling_seed=forecast_seed(INIT, 7),
        sampler={"solver": "dpm_solver_2m", "num_steps": 2, "sigma_min": sampler.sigma_min,
                 "sigma_max": sampler.sigma_max, "rho": "inf", "S_churn": 0.0},
        models={"gee": {"generator": "crps", "nfe": 1, "model_version": "abc"}})
    assert provenance.seed_count == 2


def test_the_frame_around_the_emulator_reuses_its_network_pass(forecast, model, tmp_path):
    """gpp = the frame around gee's own network: its members are gee's, moved and scaled, from one
    network pass per batch; the same as drawing them again with a copy of the network."""
    stats = compute_normalization(forecast)
    rng = np.random.default_rng(1)
    shape = (len(LEADS), len(VARIABLES), LAT.size)
    frame = PostProcessingFrame(offset=rng.normal(0, 0.1, shape).astype(np.float32),
                                slope=rng.uniform(0.5, 1, shape).astype(np.float32),
                                scale=rng.uniform(0.8, 1.2, shape).astype(np.float32),
                                seed_count=2, emulator_version="abc")
    networks = {"shared": model, "copied": copy.deepcopy(model)}  # copied before the hook is added
    passes = []
    hook = model.register_forward_hook(lambda *_: passes.append(1))
    ensembles = {}
    try:
        for name, framed in networks.items():
            passes.clear()
            write_emulated_ensemble(
                ArtifactStore(str(tmp_path / name)), "emulated", INIT, forecast, stats,
                {"gee": model, "gpp": framed}, model_versions={"gee": "abc", "gpp": "frame"},
                seed_members=[3, 1], n_members=6, batch_size=4, sampler=SamplerConfig(), seed=7,
                frames={"gpp": frame})
            ensembles[name] = (ArtifactStore(str(tmp_path / name)).load_dataset("emulated", INIT), len(passes))
    finally:
        hook.remove()
    (shared, shared_passes), (copied, copied_passes) = ensembles["shared"], ensembles["copied"]
    assert shared_passes == 2 and copied_passes == 2  # 2 batches of gee; the copy is not hooked
    for name in VARIABLES:
        np.testing.assert_array_equal(shared[name].values, copied[name].values)
    assert not np.allclose(shared["t850"].sel(model="gee").values, shared["t850"].sel(model="gpp").values)


def test_an_ensemble_without_provenance_is_refused_by_name(forecast):
    with pytest.raises(DataValidationError, match=r"emulated\[x\]: no 'provenance' attribute"):
        EnsembleProvenance.of(forecast, "emulated[x]")
    partial = forecast.assign_attrs(provenance={"init_time": INIT})
    with pytest.raises(DataValidationError, match="provenance lacks"):
        EnsembleProvenance.of(partial, "emulated[x]")


@pytest.mark.parametrize("members", [[], [1, 1], [0, 5], [-1, 0]])
def test_seed_members_must_be_distinct_members_of_the_forecast(members):
    with pytest.raises(ValueError, match=rf"here: seed_members {members!s} must be distinct members "
                       r"of the 5-member forecast \(0\.\.4\)".replace("[", r"\[").replace("]", r"\]")):
        check_seed_members(members, N_PHYSICS, "here")
    assert check_seed_members([4, 0], N_PHYSICS, "here") == [4, 0]


def test_requests_that_cannot_be_written_are_refused_before_writing(forecast, model, tmp_path):
    stats = compute_normalization(forecast)
    store = ArtifactStore(str(tmp_path))
    common = dict(seed_members=[0, 1], n_members=2, batch_size=2, sampler=SamplerConfig())
    with pytest.raises(ValueError, match="stack_models=False needs exactly one model"):
        write_emulated_ensemble(store, "emulated", INIT, forecast, stats, {"a": model, "b": model},
                                model_versions={"a": "1", "b": "1"}, stack_models=False, **common)
    with pytest.raises(ValueError, match=r"model_versions name \['a'\], models \['b'\]"):
        write_emulated_ensemble(store, "emulated", INIT, forecast, stats, {"b": model},
                                model_versions={"a": "1"}, **common)
    assert not store.has("emulated", INIT)
