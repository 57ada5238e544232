"""The almost fair CRPS (afCRPS) of an ensemble, the training loss of the one-pass generators
(Lang et al. 2024, AIFS-CRPS, eq. 4; as anemoi-core's AlmostFairKernelCRPS).

For M members x_1..x_M of a scalar and the target y:

    afCRPS_α = 1/M Σ_j |x_j − y|  −  (1 − ε) / (2M(M − 1)) Σ_{j≠k} |x_j − x_k|,   ε = (1 − α)/M.

α = 1 is the fair CRPS (unbiased for the CRPS of the ensemble's distribution, whatever M), whose
gradient vanishes when two members coincide — the degeneracy AIFS-CRPS avoids with α = 0.95;
α = 0 is the standard ensemble CRPS (with a 1/(2M²) spread term). Written in torch rather than
called from scoringrules because the loss needs gradients; tests check it against scoringrules.
"""

import itertools
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


def sums_and_differences(fields: Tensor, pairs: list[tuple[int, int]], dim: int) -> Tensor:
    """(x_b + x_a)/√2 for every (a, b) of `pairs` along `dim`, then (x_b − x_a)/√2, stacked along
    `dim` (the sums first). Divided by √2 so that each has the variance of one of its two parts when
    they are uncorrelated and of equal variance (the scale of the score of one part)."""
    first = fields.index_select(dim, torch.tensor([a for a, _ in pairs], device=fields.device))
    second = fields.index_select(dim, torch.tensor([b for _, b in pairs], device=fields.device))
    return torch.cat([second + first, second - first], dim=dim) / math.sqrt(2)


def lead_sums_and_differences(trajectory: Tensor, num_leads: int) -> Tensor:
    """(x_{ℓ+1} + x_ℓ)/√2, then (x_{ℓ+1} − x_ℓ)/√2, of consecutive leads: (..., L·V, H, W)
    lead-major -> (..., 2(L − 1)·V, H, W), the sums' channels first."""
    leads = trajectory.unflatten(-3, (num_leads, trajectory.shape[-3] // num_leads))
    pairs = [(ell, ell + 1) for ell in range(num_leads - 1)]
    return sums_and_differences(leads, pairs, dim=-4).flatten(-4, -3)


def variable_sums_and_differences(trajectory: Tensor, num_leads: int) -> Tensor:
    """(x_b + x_a)/√2, then (x_b − x_a)/√2, of every pair of variables a < b at each lead:
    (..., L·V, H, W) lead-major -> (..., L·V(V − 1), H, W). The anomalies the generators learn
    have unit variance per variable, lead and latitude (`seed_anomalies`), so the pairs need no
    further standardising."""
    leads = trajectory.unflatten(-3, (num_leads, trajectory.shape[-3] // num_leads))
    pairs = list(itertools.combinations(range(leads.shape[-3]), 2))
    return sums_and_differences(leads, pairs, dim=-3).flatten(-4, -3)


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
    crps generator trained with them flipping sign from lead to lead (coherence −0.97, docs/benchmarks.md). Sums,
    short of variance too, pull r up as differences pull it down, so the pair is lowest near the
    truth's correlation whatever s: r = 0.23 at s = 0.7σ, ρ = 0.3 (0.18 at s = 0.5σ, 0.40 at
    s = 1.3σ, ρ at s = σ; from the expected CRPS of N(0, a²) against N(0, b²),
    √(2/π)·√(a² + b²) − a/√π, summed over the pair). tests/generators/test_crps_loss.py shows both
    optima with sampled ensembles.
    """
    pairs = lead_sums_and_differences(ensemble, num_leads), lead_sums_and_differences(target, num_leads)
    return almost_fair_crps(*pairs, weights, alpha)


def variable_pair_crps(ensemble: Tensor, target: Tensor, weights: Tensor, alpha: float, num_leads: int) -> Tensor:
    """afCRPS of the sums and differences of every pair of variables at each lead
    (`variable_sums_and_differences`): a score of how a member's variables go together at a grid
    point, for the reason `lead_pair_crps` gives for leads (the variance of x_a ± x_b is
    2(1 ± r) for unit-variance parts correlated r, so a proper score of both is lowest near the
    target's correlation). Trained without it, the generator's members had pooled z500–t850
    correlations of −0.26 to −0.86 over the leads where the physics members' are +0.51 to +0.56
    (the main job's 3 inits, 800 steps); trained with it, as long, they were no closer, trained
    3× longer half as far from physics' (`CRPSConfig` has the numbers): a weight, off by default."""
    pairs = (variable_sums_and_differences(ensemble, num_leads), variable_sums_and_differences(target, num_leads))
    return almost_fair_crps(*pairs, weights, alpha)


SPECTRAL_SCALE_FLOOR = 1e-6
"""Smallest scale a zonal Fourier coefficient is divided by: the imaginary parts of wavenumber 0
(and of the Nyquist wavenumber) are zero in every member and the target, and score zero."""


def zonal_coefficients(fields: Tensor) -> Tensor:
    """Real and imaginary parts of the zonal Fourier coefficients of each latitude row, (..., C, H, W)
    -> (..., 2C, H, W//2 + 1): the real parts' channels, then the imaginary parts'. Orthonormal,
    so the coefficients of white noise have the variance of its points."""
    coefficients = torch.fft.rfft(fields, dim=-1, norm="ortho")
    return torch.cat([coefficients.real, coefficients.imag], dim=-3)


def zonal_spectral_crps(ensemble: Tensor, target: Tensor, weights: Tensor, alpha: float) -> Tensor:
    """afCRPS of the zonal Fourier coefficients of each latitude row (`zonal_coefficients`), each
    (channel, wavenumber) divided by the root mean square of the target's coefficient over the
    batch and the latitudes (cos-lat weighted, no gradient), so that every wavenumber counts alike
    (after FourCastNet 3's spectral CRPS term, on the zonal wavenumbers our realism targets use).

    Why: the afCRPS of each grid point is a score of the marginal at that point, whose variance sums
    the variances of all scales, so a generator can meet it with too much planetary-scale and too
    little synoptic-scale variance (the crps generator's members had 1.6–2.4× the physics members'
    variance about the seeds at zonal wavenumbers 0–3 and 6–9 % of it at 8–15). A proper score of
    each coefficient is lowest where the members' variance at that wavenumber matches the target's.
    Dividing by a positive number per coefficient keeps each score proper; the target's own
    scale, taken from the batch, puts the small scales on the footing of the large ones.
    Shapes as almost_fair_crps's; weights (H,) weight each latitude row.
    """
    members, truth = zonal_coefficients(ensemble), zonal_coefficients(target)
    row_weights = (weights / weights.sum()).view(-1, 1)
    scale = (truth.detach().square() * row_weights).sum(dim=-2).mean(dim=0).sqrt()  # (2C, K)
    scale = scale.clamp_min(SPECTRAL_SCALE_FLOOR)[:, None, :]
    return almost_fair_crps(members / scale, truth / scale, weights, alpha)
