"""How the physics members' deviations go together at a grid point, and the matrix that gives a
one-pass generator's output that structure by construction.

The crps generator outputs a member's anomaly trajectory r (L·V channels, lead-major, in the
units of `seed_anomalies`: unit variance per lead, variable and latitude). For physics members
the channels of r are correlated at a point: t850 and sp move against each other, a member's
anomaly at day 3 resembles its anomaly at day 1. Scored point by point, a generator learns the
variance of each channel but not how the channels go together: trained for 800 steps its members'
cross-variable correlations were up to ±0.8 with signs changing from lead to lead where physics'
are −0.6 and +0.5, and their lead-to-lead coherence was far from physics'.

With `DenoiserConfig.output_correlation` the network's last layer gives w and the member is
r = S(lat)·w, S the symmetric square root of the correlation C(lat) of the physics members'
deviations, per latitude, over all L·V channels. Channels of w that are uncorrelated with unit
variance then give r exactly the physics members' correlation between variables and between
leads, so what training has to learn is how to make w white, not the structure itself; the
network can still make any r, since S is invertible. The symmetric root (not Cholesky) keeps each
channel of w closest to the same channel of r, so no variable or lead is privileged.

C is estimated from the reforecast the generator trains on: the deviations of each init's members
about their mean, scaled by the spread per (lead, variable, latitude), pooled over inits, members
and longitudes, shrunk towards the identity by `SHRINKAGE` (a 30 × 30 matrix from a few thousand
longitudinally correlated points is noisy in its small eigenvalues, which the square root would
otherwise amplify into w's scale).
"""

import numpy as np
import torch

SHRINKAGE = 0.05
"""Weight of the identity in the shrunk correlation (1 − SHRINKAGE)·C + SHRINKAGE·I."""


def member_deviations(data: np.ndarray) -> np.ndarray:
    """The deviations of each init's members about their mean, float64, same shape as `data`
    ((n_init, n_lead, n_member, V, H, W)); refused with fewer than 2 members."""
    if data.shape[2] < 2:
        raise ValueError(f"member deviations need at least 2 members, got {data.shape[2]}")
    x = data.astype(np.float64)
    return x - x.mean(axis=2, keepdims=True)


def member_deviation_correlation(data: np.ndarray, shrinkage: float = SHRINKAGE) -> np.ndarray:
    """Correlation between the channels of member deviations per latitude.

    data: (n_init, n_lead, n_member, V, H, W) normalised reforecast, n_member ≥ 2.
    Returns float64 (H, L·V, L·V), channels lead-major as the generator's, unit diagonal, shrunk
    towards the identity by `shrinkage`.
    """
    n_init, n_lead, n_member, n_var, n_lat, n_lon = data.shape
    if not 0 <= shrinkage <= 1:
        raise ValueError(f"shrinkage must lie in [0, 1], got {shrinkage}")
    deviations = member_deviations(data)
    # (init, member, lon, lat, channel): the samples of each latitude's channels.
    samples = deviations.transpose(0, 2, 5, 4, 1, 3).reshape(n_init * n_member * n_lon, n_lat, n_lead * n_var)
    covariance = np.einsum("nhi,nhj->hij", samples, samples)
    scale = np.sqrt(np.einsum("hii->hi", covariance))
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise ValueError("a channel's member deviations are zero or non-finite at some latitude: identical "
                         "members or NaN/inf in the reforecast")
    correlation = covariance / (scale[:, :, None] * scale[:, None, :])
    return (1 - shrinkage) * correlation + shrinkage * np.eye(n_lead * n_var)


def correlation_square_root(correlation: np.ndarray) -> torch.Tensor:
    """The symmetric square root S of each (…, C, C) correlation (S·S = C), float32: the mixing
    that turns white channels into channels with that correlation."""
    values, vectors = np.linalg.eigh(correlation)
    if np.any(values <= 0):
        raise ValueError(f"correlation is not positive definite (smallest eigenvalue {values.min():.3g})")
    root = np.einsum("...ik,...k,...jk->...ij", vectors, np.sqrt(values), vectors)
    return torch.from_numpy(root.astype(np.float32))
