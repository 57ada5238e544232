"""Karras schedule and the stochastic Heun sampler (EDM Algorithm 2)."""

import pytest
import torch

from seeds_dag.diffusion.sampler import heun_sample, karras_sigmas, number_of_denoiser_evaluations

MU, S = 1.5, 0.5


def gaussian_denoiser(x, sigma):
    """Exact D(x; σ) = E[y | y + σε = x] for data y ~ N(MU, S²)."""
    sigma = sigma.view(-1, *([1] * (x.ndim - 1)))
    return MU + S**2 / (S**2 + sigma**2) * (x - MU)


def start(num_samples, sigma_max, seed):
    return sigma_max * torch.randn(num_samples, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_karras_sigmas_endpoints_monotone_and_eq5_midpoint():
    sigmas = karras_sigmas(10, 0.002, 80.0)
    assert sigmas.shape == (11,)
    assert sigmas[0].item() == pytest.approx(80.0)
    assert sigmas[-2].item() == pytest.approx(0.002)
    assert sigmas[-1].item() == 0.0
    assert (sigmas[1:] < sigmas[:-1]).all()
    midpoint = karras_sigmas(3, 0.002, 80.0, rho=7.0)[1].item()
    assert midpoint == pytest.approx(((80.0 ** (1 / 7) + 0.002 ** (1 / 7)) / 2) ** 7)


def test_sampler_is_deterministic_for_a_fixed_generator_seed():
    sigmas = karras_sigmas(8, 0.002, 80.0)

    def sample(seed):
        gen = torch.Generator().manual_seed(seed)
        return heun_sample(gaussian_denoiser, start(64, 80.0, 0), sigmas, S_churn=20.0, generator=gen)

    assert torch.equal(sample(1), sample(1))
    assert not torch.allclose(sample(1), sample(2))


# Churn adds discretisation error (EDM Sec. 4), so the stochastic sampler gets more steps.
@pytest.mark.parametrize(("num_steps", "S_churn"), [(32, 0.0), (64, 20.0)])
def test_exact_gaussian_denoiser_recovers_the_data_distribution(num_steps, S_churn):
    num_samples = 20_000  # std error of the mean S/sqrt(n) ≈ 0.0035
    sigmas = karras_sigmas(num_steps, 0.002, 80.0)
    gen = torch.Generator().manual_seed(3)
    x_0 = heun_sample(gaussian_denoiser, start(num_samples, 80.0, 4), sigmas, S_churn=S_churn, generator=gen)
    assert x_0.mean().item() == pytest.approx(MU, abs=0.03)
    assert x_0.std().item() == pytest.approx(S, rel=0.03)


@pytest.mark.parametrize("num_steps", [1, 5])
def test_number_of_denoiser_evaluations(num_steps):
    calls = []

    def counting_denoiser(x, sigma):
        calls.append(sigma)
        return gaussian_denoiser(x, sigma)

    heun_sample(counting_denoiser, start(4, 80.0, 0), karras_sigmas(num_steps, 0.002, 80.0), S_churn=5.0)
    assert len(calls) == number_of_denoiser_evaluations(num_steps)
    assert all(s.shape == (4,) and (s > 0).all() for s in calls)
