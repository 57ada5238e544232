"""The afCRPS training loss against scoringrules' estimators, its area weighting, and the lead-pair
term's optimum of the correlation between leads."""

import numpy as np
import pytest
import scoringrules as sr
import torch

from seeds_dag.generators.crps import almost_fair_crps, lead_pair_crps, lead_sums_and_differences
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
