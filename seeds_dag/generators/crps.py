"""The almost fair CRPS (afCRPS) of an ensemble, the training loss of the one-pass generators
(Lang et al. 2024, AIFS-CRPS, eq. 4; as anemoi-core's AlmostFairKernelCRPS).

For M members x_1..x_M of a scalar and the target y:

    afCRPS_α = 1/M Σ_j |x_j − y|  −  (1 − ε) / (2M(M − 1)) Σ_{j≠k} |x_j − x_k|,   ε = (1 − α)/M.

α = 1 is the fair CRPS (unbiased for the CRPS of the ensemble's distribution, whatever M), whose
gradient vanishes when two members coincide — the degeneracy AIFS-CRPS avoids with α = 0.95;
α = 0 is the standard ensemble CRPS (with a 1/(2M²) spread term). Written in torch rather than
called from scoringrules because the loss needs gradients; tests check it against scoringrules.
"""

import math

import torch
from torch import Tensor


def almost_fair_crps(ensemble: Tensor, target: Tensor, weights: Tensor, alpha: float) -> Tensor:
    """Area-weighted mean afCRPS, a scalar.

    ensemble: (B, M, C, H, W) members, M ≥ 2; target: (B, C, H, W); weights: (H,) cos(latitude)
    normalised to mean 1, so the mean over (B, C, H, W) is a global area mean.
    """
    m = ensemble.shape[1]
    if m < 2:
        raise ValueError(f"almost_fair_crps needs at least 2 members, got {m}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    skill = (ensemble - target[:, None]).abs().mean(dim=1)
    # Σ_{j≠k} |x_j − x_k| = 2 Σ_{j<k}: the pairs once, doubled.
    pairs = torch.triu_indices(m, m, offset=1, device=ensemble.device)
    spread = 2 * (ensemble[:, pairs[0]] - ensemble[:, pairs[1]]).abs().sum(dim=1)
    epsilon = (1 - alpha) / m
    score = skill - (1 - epsilon) / (2 * m * (m - 1)) * spread
    return (score * weights.view(-1, 1)).mean()


def lead_sums_and_differences(trajectory: Tensor, num_leads: int) -> Tensor:
    """(x_{ℓ+1} + x_ℓ)/√2, then (x_{ℓ+1} − x_ℓ)/√2, of consecutive leads: (..., L·V, H, W)
    lead-major -> (..., 2(L − 1)·V, H, W), the sums' channels first. Divided by √2 so that each has
    the variance of one lead when the leads are uncorrelated (the per-lead score's scale)."""
    leads = trajectory.unflatten(-3, (num_leads, trajectory.shape[-3] // num_leads))
    earlier, later = leads[..., :-1, :, :, :], leads[..., 1:, :, :, :]
    return torch.cat([later + earlier, later - earlier], dim=-4).flatten(-4, -3) / math.sqrt(2)


def lead_pair_crps(ensemble: Tensor, target: Tensor, weights: Tensor, alpha: float, num_leads: int) -> Tensor:
    """afCRPS (`almost_fair_crps`) of the sums and the differences of consecutive leads together
    (`lead_sums_and_differences`, equal weight): a score of how a member's leads go together,
    which the afCRPS of each lead, a score of marginals, cannot see. Shapes as almost_fair_crps's,
    channels L·V lead-major.

    Why sums and differences both: take a member Gaussian with variance s² at each lead and
    correlation r between two leads, the truth σ² and ρ. The sum has variance 2s²(1 + r), the
    difference 2s²(1 − r) (the truth's 2σ²(1 ± ρ)), and a proper score of either is lowest where
    its variance matches the truth's. Differences alone (the term this replaced) match at
    1 − r = (σ²/s²)(1 − ρ): where the spread per lead is too small (s < σ) they reward leads of
    opposite sign, r = −0.43 at s = 0.7σ, ρ = 0.3: the explanation of the v850 members of the
    crps generator trained with them flipping sign from lead to lead (coherence −0.97, README). Sums,
    short of variance too, pull r up as differences pull it down, so the pair is lowest near the
    truth's correlation whatever s: r = 0.23 at s = 0.7σ, ρ = 0.3 (0.18 at s = 0.5σ, 0.40 at
    s = 1.3σ, ρ at s = σ; from the expected CRPS of N(0, a²) against N(0, b²),
    √(2/π)·√(a² + b²) − a/√π, summed over the pair). tests/generators/test_crps_loss.py shows both
    optima with sampled ensembles.
    """
    pairs = lead_sums_and_differences(ensemble, num_leads), lead_sums_and_differences(target, num_leads)
    return almost_fair_crps(*pairs, weights, alpha)
