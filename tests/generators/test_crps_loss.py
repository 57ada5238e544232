"""The afCRPS training loss against scoringrules' estimators, and its area weighting."""

import numpy as np
import pytest
import scoringrules as sr
import torch

from seeds_dag.generators.crps import almost_fair_crps

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
