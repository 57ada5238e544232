"""The afCRPS training loss against scoringrules' estimators, and its area weighting."""

import numpy as np
import pytest
import scoringrules as sr
import torch

from seeds_dag.generators.crps import almost_fair_crps, lead_increments

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


def test_lead_increments_are_consecutive_differences_per_variable():
    leads, variables = 3, 2
    # Channel (lead ℓ, variable v) holds 10·ℓ² + v, so increments are 10·(2ℓ + 1) whatever v.
    values = torch.tensor([10.0 * ell**2 + v for ell in range(leads) for v in range(variables)])
    trajectory = values.view(1, leads * variables, 1, 1).expand(2, -1, 3, 4)
    increments = lead_increments(trajectory, leads)
    assert increments.shape == (2, (leads - 1) * variables, 3, 4)
    expected = torch.tensor([10.0, 10.0, 30.0, 30.0]).view(1, 4, 1, 1).expand_as(increments)
    torch.testing.assert_close(increments, expected)


def test_the_increment_score_prefers_members_as_coherent_as_the_target():
    """Two ensembles with the same marginals at each lead: leads independent, or correlated as the
    target's are. The marginal afCRPS cannot tell them apart, the increments' can."""
    gen = torch.Generator().manual_seed(5)
    n, m, rho = 4000, 8, 0.9
    first = torch.randn(n, m + 1, generator=gen)
    second = rho * first + (1 - rho**2) ** 0.5 * torch.randn(n, m + 1, generator=gen)
    coherent = torch.stack([first, second], dim=2)[..., None, None]  # (n, m + 1, 2 leads, 1, 1)
    independent = torch.stack([first, torch.randn(n, m + 1, generator=gen)], dim=2)[..., None, None]
    target = coherent[:, 0]
    weights = torch.ones(1)
    scores = {name: almost_fair_crps(lead_increments(e[:, 1:], 2), lead_increments(target, 2), weights, 1.0).item()
              for name, e in (("coherent", coherent), ("independent", independent))}
    assert scores["coherent"] < 0.8 * scores["independent"]
