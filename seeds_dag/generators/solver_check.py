"""Holding a solver of the edm generator to a known answer: the exact denoiser of Gaussian data.

With data whose channels are independent modes of variances λ_k, the exact denoiser is
D(x; σ) = λ_k/(λ_k + σ²)·x, and the probability-flow ODE carries N(0, λ_k + σ_max²) to N(0, λ_k):
a converged solver returns every mode's variance. A solver's error shows as variance gained or
lost in the small-variance modes (a field's small scales), which no score against a truth can be
trusted to see (`emulation.SamplerConfig` has the measured table; tests/diffusion and the skill
benchmark's sampler study call this).
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from seeds_dag.generators.sampling import sample_anomalies

MODE_VARIANCES = (100.0, 10.0, 1.0, 1e-1, 1e-2, 1e-3, 1e-4)
"""From the leading modes of a trajectory (30 correlated fields on 2048 points) to the grid scale."""
TOLERANCE = 0.10
"""How far a mode's returned variance may be from its true one, relative."""


class ExactGaussianDenoiser(nn.Module):
    """D(x; σ) of zero-mean Gaussian data whose channels are independent modes of the given
    variances; called as the edm generator's model is, model(x, sigma, cond)."""

    def __init__(self, variances: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("variances", torch.tensor(variances, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: Tensor, sigma: Tensor, cond: Tensor) -> Tensor:
        return self.variances / (self.variances + sigma.view(-1, 1, 1, 1) ** 2) * x


def returned_variance(sampler, variances: Sequence[float] = MODE_VARIANCES, members: int = 20_000) -> Tensor:
    """Variance of each mode over `members` samples drawn as the asset draws them (one random
    generator per member, `sample_anomalies`), over the true variance: (len(variances),) float64.
    `sampler`: an `emulation.SamplerConfig`."""
    model = ExactGaussianDenoiser(variances)
    cond = torch.zeros(members, 2 * len(variances), 1, 1)
    generators = [torch.Generator().manual_seed(m) for m in range(members)]
    samples = sample_anomalies(model, cond, generators, sampler)
    return samples.double().var(dim=0).flatten() / torch.tensor(variances, dtype=torch.float64)


def worst_variance_error(sampler, variances: Sequence[float] = MODE_VARIANCES, members: int = 20_000) -> float:
    """max_k |returned / true − 1|: within TOLERANCE the solver passes."""
    return float((returned_variance(sampler, variances, members) - 1).abs().max())
