"""Seeds → members: shapes, streaming, and reproducibility that does not depend on batching."""

import dataclasses

import numpy as np
import pytest
import torch

from seeds_dag.conventions import regular_latitudes, regular_longitudes
from seeds_dag.diffusion.sampler import heun_sample
from seeds_dag.emulation import SamplerConfig, generate_members
from seeds_dag.networks.denoiser import DenoiserConfig, build_denoiser

LAT, LON = regular_latitudes(8), regular_longitudes(16)
N_LEAD, K, N_VAR = 3, 2, 2
LEAD_DAYS = np.array([0.25, 1.0, 3.5])
# 8 steps keep samples of this untrained model at unit scale; with 4 the coarse schedule leaves them
# of size ~10, where float32 rounding that depends on the batch shape exceeds the 1e-5 tolerances.
FAST = SamplerConfig(num_steps=8)
CHURNED = dataclasses.replace(FAST, S_churn=10.0, S_tmin=0.05, S_tmax=50.0)
CPU = torch.device("cpu")
# The anomaly scale per (lead, variable, latitude), varied so that a lead or row mixed up shows.
SPREAD = np.linspace(0.2, 1.0, N_LEAD * N_VAR * len(LAT), dtype=np.float32).reshape(N_LEAD, N_VAR, len(LAT))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = DenoiserConfig(channels=(8, 16), embed_dim=16, num_variables=N_VAR)
    return build_denoiser(config, LAT, LON).eval().requires_grad_(False)


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
def test_shapes_dtype_and_streaming(model, seeds, batch_size):
    chunks = list(generate_members(model, seeds, SPREAD, LEAD_DAYS, 5, batch_size, FAST, 0, CPU))
    # batch_size < n_lead: a member spans batches; batch_size > n_lead: a batch ends mid-member.
    # Either way members are yielded as soon as they are complete, a few at a time.
    assert max(s.stop - s.start for s, _ in chunks) <= batch_size // N_LEAD + 1
    out = stack(chunks, n_members=5)
    assert out.shape == (N_LEAD, 5, N_VAR, len(LAT), len(LON)) and out.dtype == np.float32
    assert np.isfinite(out).all()
    # Every (member, lead) has its own noise: no two members agree.
    assert not np.allclose(out[:, 0], out[:, 1])


@pytest.mark.parametrize("sampler", [FAST, CHURNED], ids=["ode", "churn"])
def test_members_do_not_depend_on_the_batch_size(model, seeds, sampler):
    np.testing.assert_allclose(
        members(model, seeds, batch_size=3, sampler=sampler),
        members(model, seeds, batch_size=10, sampler=sampler),
        atol=1e-5, rtol=1e-5,
    )


def test_streamed_members_equal_one_big_batch(model, seeds):
    """What the ensembles asset streams to zarr batch by batch is what one batch of every
    (member, lead) pair gives for the same seed."""
    streamed = list(generate_members(model, seeds, SPREAD, LEAD_DAYS, 4, 2, CHURNED, 7, CPU))
    whole = list(generate_members(model, seeds, SPREAD, LEAD_DAYS, 4, 4 * N_LEAD, CHURNED, 7, CPU))
    assert len(streamed) > 1 and len(whole) == 1
    np.testing.assert_allclose(stack(streamed, 4), whole[0][1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("sampler", [FAST, CHURNED], ids=["ode", "churn"])
def test_lead_by_lead_equals_all_leads_batched(model, seeds, sampler):
    together = members(model, seeds, n_members=3, batch_size=9, sampler=sampler)
    for lead in range(N_LEAD):
        alone = members(model, seeds[lead : lead + 1], n_members=3, batch_size=2, sampler=sampler,
                        lead_days=LEAD_DAYS[lead : lead + 1], spread=SPREAD[lead : lead + 1])
        np.testing.assert_allclose(alone[0], together[lead], atol=1e-5, rtol=1e-5)


def test_seed_order_does_not_change_the_samples(model, seeds):
    np.testing.assert_array_equal(members(model, seeds), members(model, seeds[:, ::-1].copy()))


def test_the_seed_selects_the_noise(model, seeds):
    np.testing.assert_array_equal(members(model, seeds, seed=3), members(model, seeds, seed=3))
    assert not np.allclose(members(model, seeds, seed=3), members(model, seeds, seed=4))
    assert not np.allclose(members(model, seeds, sampler=CHURNED), members(model, seeds, sampler=FAST))


def test_network_evaluations_per_batch_equal_nfe(model, seeds):
    calls = []

    def counting_model(x, sigma, cond, lead):
        calls.append(x.shape[0])
        return model(x, sigma, cond, lead)

    members(counting_model, seeds, n_members=2, batch_size=N_LEAD * 2, sampler=CHURNED)
    assert FAST.nfe == 15 and calls == [N_LEAD * 2] * CHURNED.nfe


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
