"""The afCRPS training loss against scoringrules' estimators, its area weighting, the lead-pair
term's optimum of the correlation between leads, and what the variable-pair and zonal spectral
terms see that the score of each grid point does not."""

import numpy as np
import pytest
import scoringrules as sr
import torch

from seeds_dag.generators.crps import (
    almost_fair_crps,
    lead_pair_crps,
    lead_sums_and_differences,
    variable_pair_crps,
    variable_sums_and_differences,
    zonal_coefficients,
    zonal_spectral_crps,
)
from seeds_dag.generators.kinds import CRPSConfig

B, M, C, H, W = 3, 5, 2, 4, 6


def sample(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(B, M, C, H, W, generator=gen, dtype=torch.float64),
            torch.randn(B, C, H, W, generator=gen, dtype=torch.float64))


@pytest.mark.parametrize(("alpha", "estimator"), [(1.0, "fair"), (0.0, "nrg")])
def test_fully_fair_and_standard_ends_match_scoringrules(alpha, estimator):
    ensemble, target = sample()
    ours = almost_fair_crps(ensemble, target, torch.ones(H, dtype=torch.float64), alpha)
    theirs = sr.crps_ensemble(target.numpy(), np.moveaxis(ensemble.numpy(), 1, -1), estimator=estimator)
    assert ours.item() == pytest.approx(float(np.mean(theirs)), rel=1e-10)


def test_almost_fair_lies_between_the_fair_and_the_standard_score():
    ensemble, target = sample(1)
    weights = torch.ones(H, dtype=torch.float64)
    fair, almost, standard = (almost_fair_crps(ensemble, target, weights, a).item() for a in (1.0, 0.95, 0.0))
    assert fair < almost < standard


def test_latitude_weights_scale_each_row():
    ensemble, target = sample(2)
    target = target.clone()
    ensemble = target[:, None].expand(B, M, C, H, W).clone()
    ensemble[..., 1, :] += torch.arange(M, dtype=torch.float64).view(1, M, 1, 1)  # only row 1 is wrong
    weights = torch.ones(H, dtype=torch.float64)
    base = almost_fair_crps(ensemble, target, weights, 0.95)
    weights[1] = 4.0
    assert almost_fair_crps(ensemble, target, weights, 0.95).item() == pytest.approx(4 * base.item())


@pytest.mark.parametrize(("members", "alpha"), [(1, 0.95), (4, 1.5)])
def test_refuses_one_member_or_alpha_outside_the_unit_interval(members, alpha):
    ensemble, target = sample()
    with pytest.raises(ValueError, match="member|alpha"):
        almost_fair_crps(ensemble[:, :members], target, torch.ones(H), alpha)


def test_lead_sums_and_differences_pair_consecutive_leads_per_variable_on_the_per_lead_scale():
    leads, variables = 3, 2
    # Channel (lead ℓ, variable v) holds 10·ℓ² + v: sums 10·(2ℓ² + 2ℓ + 1) + 2v, differences
    # 10·(2ℓ + 1), each over √2.
    values = torch.tensor([10.0 * ell**2 + v for ell in range(leads) for v in range(variables)])
    trajectory = values.view(1, leads * variables, 1, 1).expand(2, -1, 3, 4)
    pairs = lead_sums_and_differences(trajectory, leads)
    assert pairs.shape == (2, 2 * (leads - 1) * variables, 3, 4)
    expected = torch.tensor([10.0, 12.0, 50.0, 52.0, 10.0, 10.0, 30.0, 30.0]) / 2**0.5
    torch.testing.assert_close(pairs, expected.view(1, -1, 1, 1).expand_as(pairs))


CORRELATIONS = np.round(np.arange(-0.9, 0.91, 0.1), 1)


def two_leads(z, std, correlation):
    """(..., 2) standard normals -> (..., 2 leads, 1, 1): std at each lead, correlated as given."""
    first, second = z[..., 0], correlation * z[..., 0] + (1 - correlation**2) ** 0.5 * z[..., 1]
    return std * torch.stack([first, second], dim=-1)[..., None, None]


def expected_scores(term):
    """The mean of `term`(members, truth) over 50 000 examples of the CRPS generator's training
    (CRPSConfig's members and alpha), at every correlation of CORRELATIONS between the members'
    two leads: members N(0, 0.7²) at each lead, too little spread, against a truth N(0, 1) whose
    leads are 0.3 correlated. The same noise serves every correlation (common random numbers), so
    the curve is smooth in it; the truth's draws make the mean an expectation over the truth."""
    gen = torch.Generator().manual_seed(7)
    n, config = 50_000, CRPSConfig()
    truth = two_leads(torch.randn(n, 2, generator=gen, dtype=torch.float64), 1.0, 0.3)
    noise = torch.randn(n, config.members, 2, generator=gen, dtype=torch.float64)
    return np.array([term(two_leads(noise, 0.7, float(r)), truth, config.alpha) for r in CORRELATIONS])


def differences_alone(members, truth, alpha):
    """The term lead_pair_crps replaced: the afCRPS of x₂ − x₁."""
    def difference(x):
        return x[..., 1:, :, :] - x[..., :1, :, :]

    weights = torch.ones(1, dtype=torch.float64)
    return almost_fair_crps(difference(members), difference(truth), weights, alpha).item()


def sums_and_differences(members, truth, alpha):
    return lead_pair_crps(members, truth, torch.ones(1, dtype=torch.float64), alpha, num_leads=2).item()


def test_differences_alone_reward_anticorrelated_leads_when_the_spread_is_too_small():
    """The old term's wrong optimum (lead_pair_crps's docstring: r = −0.43 in expectation)."""
    scores = expected_scores(differences_alone)
    assert CORRELATIONS[scores.argmin()] < 0
    assert scores.min() < scores[CORRELATIONS == 0.3][0]


def test_sums_and_differences_are_lowest_near_the_truths_correlation_when_the_spread_is_too_small():
    """The pair's optimum is r = 0.23 in expectation (lead_pair_crps's docstring), whatever the
    per-lead spread gets wrong."""
    scores = expected_scores(sums_and_differences)
    assert abs(CORRELATIONS[scores.argmin()] - 0.3) <= 0.2


def test_variable_sums_and_differences_pair_every_two_variables_at_each_lead():
    leads, variables = 2, 3
    # Channel (lead ℓ, variable v) holds 100·ℓ + 10^v: pairs (0, 1), (0, 2), (1, 2) at each lead.
    values = torch.tensor([100.0 * ell + 10.0**v for ell in range(leads) for v in range(variables)])
    pairs = variable_sums_and_differences(values.view(1, -1, 1, 1), leads).flatten()
    sums = [11.0, 101.0, 110.0]
    differences = [9.0, 99.0, 90.0]
    expected = torch.tensor(sums + differences + [s + 200 for s in sums] + differences) / 2**0.5
    torch.testing.assert_close(pairs, expected)


def correlated_pair(z, correlation):
    """(..., 2) standard normals -> (..., 2 variables, 1, 1) of unit variance, correlated as given."""
    second = correlation * z[..., 0] + (1 - correlation**2) ** 0.5 * z[..., 1]
    return torch.stack([z[..., 0], second], dim=-1)[..., None, None]


def test_the_variable_pair_term_tells_the_right_correlation_between_variables_from_its_opposite():
    """Members with the truth's marginals (each variable N(0, 1)) but the opposite correlation
    between two variables (−0.6 against the truth's 0.6) score as well per grid point, in
    expectation, as members with the right one: the pair term alone tells them apart."""
    gen = torch.Generator().manual_seed(3)
    n, alpha, weights = 40_000, CRPSConfig.alpha, torch.ones(1, dtype=torch.float64)
    truth = correlated_pair(torch.randn(n, 2, generator=gen, dtype=torch.float64), 0.6)
    noise = torch.randn(n, CRPSConfig.members, 2, generator=gen, dtype=torch.float64)
    right, opposite = correlated_pair(noise, 0.6), correlated_pair(noise, -0.6)
    per_point = [almost_fair_crps(m, truth, weights, alpha).item() for m in (right, opposite)]
    pair_term = [variable_pair_crps(m, truth, weights, alpha, num_leads=1).item() for m in (right, opposite)]
    assert per_point[0] == pytest.approx(per_point[1], rel=0.01)
    assert pair_term[1] > 1.1 * pair_term[0]


def test_zonal_coefficients_are_orthonormal_real_and_imaginary_parts():
    fields = torch.randn(2, 3, 4, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    coefficients = zonal_coefficients(fields)
    assert coefficients.shape == (2, 6, 4, 9)
    expected = torch.fft.rfft(fields, dim=-1, norm="ortho")
    torch.testing.assert_close(coefficients[:, :3], expected.real)
    torch.testing.assert_close(coefficients[:, 3:], expected.imag)


def white_and_smooth(n, members, gen):
    """Members and a truth on rings of 32 longitudes, every point N(0, 1): the truth and `white`
    members white noise (the same variance at every zonal wavenumber), `smooth` members a random
    wave of wavenumber 1 only, whose points are N(0, 1) too."""
    lon = torch.arange(32, dtype=torch.float64) * 2 * torch.pi / 32

    def wave(shape):
        phase = torch.rand(*shape, 1, generator=gen, dtype=torch.float64) * 2 * torch.pi
        return 2**0.5 * torch.cos(lon + phase)

    truth = torch.randn(n, 1, 1, 32, generator=gen, dtype=torch.float64)
    white = torch.randn(n, members, 1, 1, 32, generator=gen, dtype=torch.float64)
    return truth, white, wave((n, members, 1, 1))


def test_the_spectral_term_tells_members_with_the_truths_spectrum_from_smooth_ones_of_the_same_variance():
    """Members whose points have the truth's distribution but whose variance sits at one
    wavenumber score as well per grid point (each point of a random-phase wave of amplitude √2 has
    variance 1, though not a Gaussian law, hence the loose match), while the spectral term, each
    wavenumber counting alike, scores them worse than white members (measured 0.78 against 0.54:
    at the wavenumbers the smooth members leave empty they score as a zero-spread ensemble,
    E|y| = 0.80 for y ~ N(0, 1))."""
    gen = torch.Generator().manual_seed(4)
    truth, white, smooth = white_and_smooth(4000, CRPSConfig.members, gen)
    weights, alpha = torch.ones(1, dtype=torch.float64), CRPSConfig.alpha
    per_point = [almost_fair_crps(m, truth, weights, alpha).item() for m in (white, smooth)]
    spectral = [zonal_spectral_crps(m, truth, weights, alpha).item() for m in (white, smooth)]
    assert per_point[1] == pytest.approx(per_point[0], rel=0.1)
    assert spectral[1] > 1.3 * spectral[0]


def test_the_spectral_term_ignores_the_scale_of_the_fields():
    """Scaling every field by a constant leaves the term as it is: each coefficient is divided by
    the target's own scale."""
    gen = torch.Generator().manual_seed(5)
    ensemble = torch.randn(3, 4, 2, 2, 16, generator=gen, dtype=torch.float64)
    target = torch.randn(3, 2, 2, 16, generator=gen, dtype=torch.float64)
    ones = torch.ones(2, dtype=torch.float64)
    base = zonal_spectral_crps(ensemble, target, ones, 0.95)
    assert zonal_spectral_crps(7 * ensemble, 7 * target, ones, 0.95).item() == pytest.approx(base.item())
    assert torch.isfinite(base) and base > 0
