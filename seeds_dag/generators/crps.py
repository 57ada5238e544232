"""The almost fair CRPS (afCRPS) of an ensemble, the training loss of the one-pass generators
(Lang et al. 2024, AIFS-CRPS, eq. 4; as anemoi-core's AlmostFairKernelCRPS).

For M members x_1..x_M of a scalar and the target y:

    afCRPS_α = 1/M Σ_j |x_j − y|  −  (1 − ε) / (2M(M − 1)) Σ_{j≠k} |x_j − x_k|,   ε = (1 − α)/M.

α = 1 is the fair CRPS (unbiased for the CRPS of the ensemble's distribution, whatever M), whose
gradient vanishes when two members coincide — the degeneracy AIFS-CRPS avoids with α = 0.95;
α = 0 is the standard ensemble CRPS (with a 1/(2M²) spread term). Written in torch rather than
called from scoringrules because the loss needs gradients; tests check it against scoringrules.
"""

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


def lead_increments(trajectory: Tensor, num_leads: int) -> Tensor:
    """x_{ℓ+1} − x_ℓ of consecutive leads: (..., L·V, H, W) lead-major -> (..., (L − 1)·V, H, W)."""
    leads = trajectory.unflatten(-3, (num_leads, trajectory.shape[-3] // num_leads))
    return (leads[..., 1:, :, :, :] - leads[..., :-1, :, :, :]).flatten(-4, -3)
