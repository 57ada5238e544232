"""The space the diffusion models work in: a member as its anomaly from the mean of the K seeds, in
units of the size that anomaly has on average.

    r = (x − m_K) / a,   m_K = mean of the K seeds,   a(v, lead, lat) = s(v, lead, lat)·√(1 + 1/K)

x and the seeds are normalised fields (`seeds_dag.normalization`), s is the reforecast's ensemble
spread in the same units (the "spread" statistic over std). For exchangeable members
Var(x − m_K) = (1 + 1/K)·s², so r has unit variance at every lead time and latitude, as EDM's
sigma_data = 1 assumes.

Why not generate x itself: at a lead of one day the members differ from the seed mean by about a
quarter of the climatological std, so a network that outputs whole fields must reproduce the seed
mean far more precisely than that before the spread it adds means anything; its error lands in
every member. In anomaly space the seed mean is exact by construction and the network's error is
measured against the spread it has to generate. The post-processor (truth as target) works in the
same space: its anomalies are larger where the physics model's bias and error are, which is what
it learns to add.

The network sees the seeds through an order-invariant summary (`seed_conditioning`): their mean
(normalised, it carries the flow) and their std in units of s (of order one at every lead).
"""

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from seeds_dag.normalization import lead_statistic
from seeds_dag.trajectory_channels import flatten_leads


def seed_spread(stats: xr.Dataset, variables: list[str], lead_time: np.ndarray) -> np.ndarray:
    """The reforecast's ensemble spread in normalised units, s = spread / std:
    (n_lead, V, n_lat) float32 for the variables and lead times asked for."""
    spread = [lead_statistic(stats, name, lead_time, "spread") / lead_statistic(stats, name, lead_time, "std")
              for name in variables]
    return np.stack(spread, axis=1).astype(np.float32)


def member_spread(data: np.ndarray) -> np.ndarray:
    """The same spread computed from normalised ensembles in memory, (init, lead, member, V, H, W)
    -> (lead, V, H) float32: the root mean over inits and longitudes of the unbiased member
    variance (for tests and small runs; the pipeline takes it from the statistics)."""
    return np.sqrt(data.astype(np.float64).var(axis=2, ddof=1).mean(axis=(0, -1))).astype(np.float32)


def sorted_seeds(seeds: Tensor) -> Tensor:
    """`seeds` (B, K, ...) sorted along K, so that sums over the seeds run in one order: bitwise
    invariant to their order. An odd–even transposition network of element-wise min/max gives the
    values Tensor.sort does, ~10× faster for the few seeds we have (K ≤ 5; measured on this
    2-core CPU: 3 ms against 36 ms for a training batch of 16 × 2 trajectories)."""
    members = list(seeds.unbind(dim=1))
    for sweep in range(len(members)):
        for i in range(sweep % 2, len(members) - 1, 2):
            low, high = members[i], members[i + 1]
            members[i], members[i + 1] = torch.minimum(low, high), torch.maximum(low, high)
    return torch.stack(members, dim=1)


def _mean_and_scale(seeds: Tensor, spread: Tensor) -> tuple[Tensor, Tensor]:
    """m_K (B, V, H, W) and a = s·√(1 + 1/K) (B, V, H, 1) for seeds (B, K, V, H, W), spread (B, V, H)."""
    k = seeds.shape[1]
    mean = sorted_seeds(seeds).mean(dim=1)
    return mean, (spread * (1 + 1 / k) ** 0.5)[..., None]


def to_anomaly(x: Tensor, seeds: Tensor, spread: Tensor) -> Tensor:
    """r = (x − m_K) / a. x: (B, V, H, W) normalised; seeds: (B, K, V, H, W); spread: (B, V, H)."""
    mean, scale = _mean_and_scale(seeds, spread)
    return (x - mean) / scale


def from_anomaly(r: Tensor, seeds: Tensor, spread: Tensor) -> Tensor:
    """x = m_K + a·r, the inverse of `to_anomaly` (same shapes)."""
    mean, scale = _mean_and_scale(seeds, spread)
    return mean + scale * r


def example_inputs(target: Tensor, seeds: Tensor, spread: Tensor) -> tuple[Tensor, Tensor]:
    """(anomaly, conditioning) of training examples, what a generator's loss takes: target
    (B, L, V, H, W) and seeds (B, K, L, V, H, W) trajectories, spread (1, L·V, H) (`seed_spread`,
    leads as channels). The training loop and the validation score call this one function."""
    target, seeds = flatten_leads(target), flatten_leads(seeds)
    spread = spread.expand(target.shape[0], -1, -1)
    return to_anomaly(target, seeds, spread), seed_conditioning(seeds, spread)


def seed_conditioning(seeds: Tensor, spread: Tensor) -> Tensor:
    """The network's view of the seeds: (B, 2V, H, W) = [seed mean, seed std / s], invariant to
    the order of the seeds (bitwise). The std is the unbiased one (zero for K = 1), so its square
    is s² on average whatever K."""
    members = sorted_seeds(seeds)
    k = members.shape[1]
    mean = members.mean(dim=1)
    # Written out: Tensor.std over the seed axis is ~50× slower on CPU (0.15 s a training batch,
    # a third of a step).
    variance = ((members - mean[:, None]) ** 2).sum(dim=1) / max(k - 1, 1)
    return torch.cat([mean, variance.sqrt() / spread[..., None]], dim=1)
