"""Seeds → member trajectories with every generator: shapes, streaming, and reproducibility that
does not depend on batching."""

import dataclasses

import numpy as np
import pytest
import torch

from seeds_dag.conventions import regular_latitudes, regular_longitudes
from seeds_dag.diffusion.sampler import heun_sample
from seeds_dag.emulation import SamplerConfig, generate_members
from seeds_dag.generators.kinds import build_model, objective_for
from seeds_dag.generators.sampling import nfe
from seeds_dag.networks.unet import DenoiserConfig

LAT, LON = regular_latitudes(8), regular_longitudes(16)
N_LEAD, K, N_VAR = 3, 2, 2
LEAD_DAYS = np.array([0.25, 1.0, 3.5])
# 8 steps keep samples of this untrained model at unit scale; with 4 the coarse schedule leaves them
# of size ~10, where float32 rounding that depends on the batch shape exceeds the 1e-5 tolerances.
FAST = SamplerConfig(num_steps=8)
CHURNED = dataclasses.replace(FAST, solver="heun", S_churn=10.0, S_tmin=0.05, S_tmax=50.0)
CPU = torch.device("cpu")
# The anomaly scale per (lead, variable, latitude), varied so that a lead or row mixed up shows.
SPREAD = np.linspace(0.2, 1.0, N_LEAD * N_VAR * len(LAT), dtype=np.float32).reshape(N_LEAD, N_VAR, len(LAT))
NETWORK = DenoiserConfig(channels=(8, 16), embed_dim=16, num_variables=N_VAR, num_leads=N_LEAD, noise_dim=8)
GENERATORS = {"crps": {}, "crps-spatial": {}, "consistency": {},
              "consistency-2": {"sample_sigmas": (80.0, 0.8)}, "edm": {}}
# crps-spatial: members also draw 4 fields of spatial noise on the U-Net's coarsest (4 × 8) grid.
NETWORKS = {"crps-spatial": dataclasses.replace(NETWORK, noise_channels=4)}


def untrained(name):
    torch.manual_seed(0)
    objective = objective_for(name.split("-")[0], **GENERATORS[name])
    return build_model(objective, NETWORKS.get(name, NETWORK), LAT, LON).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def model():
    return untrained("edm")


@pytest.fixture(scope="module", params=list(GENERATORS))
def any_model(request):
    return untrained(request.param)


@pytest.fixture(scope="module")
def seeds():
    return np.random.default_rng(0).standard_normal((N_LEAD, K, N_VAR, len(LAT), len(LON))).astype(np.float32)


def stack(chunks, n_members):
    """The streamed (slice, samples) chunks as one (n_lead, n_members, V, H, W) array, checking
    that the slices tile range(n_members) in order."""
    starts = [s.start for s, _ in chunks]
    assert starts == sorted(starts) and chunks[0][0].start == 0 and chunks[-1][0].stop == n_members
    assert all(a.stop == b.start for (a, _), (b, _) in zip(chunks, chunks[1:]))
    assert all(arr.shape[1] == s.stop - s.start for s, arr in chunks)
    return np.concatenate([arr for _, arr in chunks], axis=1)


def members(model, seeds, n_members=4, batch_size=5, sampler=FAST, seed=0, lead_days=LEAD_DAYS, spread=SPREAD):
    return stack(list(generate_members(model, seeds, spread, lead_days, n_members, batch_size, sampler, seed, CPU)),
                 n_members)


@pytest.mark.parametrize("batch_size", [2, 4])
def test_shapes_dtype_and_streaming(any_model, seeds, batch_size):
    chunks = list(generate_members(any_model, seeds, SPREAD, LEAD_DAYS, 5, batch_size, FAST, 0, CPU))
    # A batch holds whole member trajectories: members are yielded batch by batch.
    assert [s.stop - s.start for s, _ in chunks] == [batch_size] * (5 // batch_size) + [5 % batch_size]
    out = stack(chunks, n_members=5)
    assert out.shape == (N_LEAD, 5, N_VAR, len(LAT), len(LON)) and out.dtype == np.float32
    assert np.isfinite(out).all()
    # Every member has its own noise: no two members agree at any lead.
    assert all(not np.allclose(out[lead, 0], out[lead, 1]) for lead in range(N_LEAD))


@pytest.mark.parametrize("batch_size", [1, 3])
def test_members_do_not_depend_on_the_batch_size(any_model, seeds, batch_size):
    np.testing.assert_allclose(members(any_model, seeds, batch_size=batch_size),
                               members(any_model, seeds, batch_size=10), atol=1e-5, rtol=1e-5)


def test_churned_edm_members_do_not_depend_on_the_batch_size(model, seeds):
    np.testing.assert_allclose(members(model, seeds, batch_size=3, sampler=CHURNED),
                               members(model, seeds, batch_size=10, sampler=CHURNED), atol=1e-5, rtol=1e-5)


def test_a_member_is_the_same_whatever_the_ensemble_size(any_model, seeds):
    """Member m's noise is keyed by (seed, m) alone: asking for more members adds members."""
    np.testing.assert_allclose(members(any_model, seeds, n_members=2, batch_size=2),
                               members(any_model, seeds, n_members=5, batch_size=2)[:, :2], atol=1e-5, rtol=1e-5)


def test_seed_order_does_not_change_the_samples(any_model, seeds):
    np.testing.assert_array_equal(members(any_model, seeds), members(any_model, seeds[:, ::-1].copy()))


def test_the_seed_selects_the_noise(any_model, seeds):
    np.testing.assert_array_equal(members(any_model, seeds, seed=3), members(any_model, seeds, seed=3))
    assert not np.allclose(members(any_model, seeds, seed=3), members(any_model, seeds, seed=4))


def test_churn_changes_edm_samples(model, seeds):
    assert not np.allclose(members(model, seeds, sampler=CHURNED), members(model, seeds, sampler=FAST))


def test_network_evaluations_per_batch_equal_nfe(any_model, seeds):
    """One U-Net pass per member for all leads (crps, consistency), 2·steps − 1 for edm."""
    calls = []
    unet = any_model.unet if hasattr(any_model, "unet") else any_model.net.unet
    hook = unet.register_forward_hook(lambda module, args, out: calls.append(out.shape[0]))
    try:
        members(any_model, seeds, n_members=4, batch_size=4, sampler=CHURNED)
    finally:
        hook.remove()
    expected = {"NoiseGenerator": 1, "EDMPrecond": CHURNED.nfe}
    assert calls == [4] * nfe(any_model, CHURNED)
    assert len(calls) == expected.get(type(any_model).__name__) or len(calls) == len(any_model.config.sample_sigmas)


@pytest.mark.parametrize("sampler", [FAST, CHURNED], ids=["ode", "churn"])
def test_noise_callable_equals_generator_noise(sampler):
    """Per-sample churn noise (the path generate_members uses) is Algorithm 2 unchanged."""
    def denoiser(x, sigma):  # exact denoiser for data ~ N(1, 0.5²)
        return 1 + 0.25 / (0.25 + sigma.view(-1, 1) ** 2) * (x - 1)

    x_T = 80 * torch.randn(16, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours, theirs = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    noise = lambda: torch.randn(x_T.shape, generator=ours, dtype=torch.float64)  # noqa: E731
    churn = {k: getattr(sampler, k) for k in ("S_churn", "S_tmin", "S_tmax", "S_noise")}
    torch.testing.assert_close(
        heun_sample(denoiser, x_T, sampler.sigmas(), **churn, noise=noise),
        heun_sample(denoiser, x_T, sampler.sigmas(), **churn, generator=theirs),
    )


def test_wrong_seed_shape_raises(model, seeds):
    with pytest.raises(ValueError, match="seeds: expected shape"):
        next(generate_members(model, seeds[0], SPREAD, LEAD_DAYS, 2, 2, FAST, 0, CPU))
    with pytest.raises(ValueError, match="spread: expected shape"):
        next(generate_members(model, seeds, SPREAD[:, 0], LEAD_DAYS, 2, 2, FAST, 0, CPU))


def test_seeds_at_other_leads_than_the_model_generates_raise(any_model, seeds):
    with pytest.raises(ValueError, match="trajectories of 3 leads"):
        next(generate_members(any_model, seeds[:2], SPREAD[:2], LEAD_DAYS[:2], 2, 2, FAST, 0, CPU))
