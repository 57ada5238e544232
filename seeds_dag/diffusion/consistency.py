"""Consistency models: a member in one or two network evaluations (Song et al. 2023, "Consistency
Models"; improved consistency training, "iCT", Song & Dhariwal 2023). Equations refer to those
papers; symbols follow EDM's (σ for the noise level, σ_data for the data's std).

A consistency model f(x, σ) maps any point of a diffusion trajectory at noise level σ to the
trajectory's start. It is trained without a teacher (consistency *training*): two points of the
same trajectory, y + σ_{i+1}ε and y + σ_iε, must map to the same output, the one at the lower
noise level serving as the (gradient-stopped) target. Sampling is f(σ_max·z, σ_max): one
evaluation; a second step re-noises to σ_mid and applies f again. Swift (Stock et al. 2025) then
fine-tunes the one-step map on the CRPS; `seeds_dag.generators` does that after this training.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class ConsistencyConfig:
    """Consistency training and sampling (iCT's settings unless noted).

    sigma_min, sigma_max, rho: the Karras discretisation of the noise levels (EDM eq. 5).
    sigma_data: std of the data; 1 for unit-variance anomalies.
    initial_discretization, final_discretization: the curriculum of the number of levels N
        (iCT eq. 7: doubling from s0 to s1 over training). iCT's s1 = 1280 suits 400k steps; our
        runs are about a thousand steps, so the curriculum stops at 160.
    P_mean, P_std: the lognormal from which iCT draws the noise levels it trains at (eq. 8).
    huber_c: the pseudo-Huber constant per dimension, c = huber_c·√d (iCT: 0.00054).
    sample_sigmas: the noise levels sampling visits: (σ_max,) is one evaluation, (σ_max, σ_mid)
        two.
    """

    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    sigma_data: float = 1.0
    initial_discretization: int = 10
    final_discretization: int = 160
    P_mean: float = -1.1
    P_std: float = 2.0
    huber_c: float = 0.00054
    sample_sigmas: tuple[float, ...] = (80.0,)


def consistency_coefficients(sigma: Tensor, config: ConsistencyConfig) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """c_skip, c_out (Song et al. 2023, Appendix C: f(x, σ_min) = x exactly), c_in and c_noise
    (EDM's), each shaped like `sigma`."""
    sd, s_min = config.sigma_data, config.sigma_min
    c_skip = sd**2 / ((sigma - s_min) ** 2 + sd**2)
    c_out = (sigma - s_min) * sd / (sigma**2 + sd**2).sqrt()
    c_in = 1 / (sigma**2 + sd**2).sqrt()
    return c_skip, c_out, c_in, sigma.log() / 4


class ConsistencyModel(nn.Module):
    """f(x, σ; cond) = c_skip·x + c_out·F(c_in·x, c_noise, cond), F e.g. `ConditionalDenoiser`."""

    def __init__(self, net: nn.Module, config: ConsistencyConfig) -> None:
        super().__init__()
        self.net = net
        self.config = config

    def forward(self, x: Tensor, sigma: Tensor, cond: Tensor) -> Tensor:
        """x: (B, C, H, W) at noise level sigma (B,); cond (B, 2C, H, W). Returns (B, C, H, W)."""
        c_skip, c_out, c_in, c_noise = consistency_coefficients(sigma, self.config)
        per_sample = (-1, 1, 1, 1)
        return c_skip.view(per_sample) * x + c_out.view(per_sample) * self.net(c_in.view(per_sample) * x, c_noise, cond)


def discretization(step: int, total_steps: int, config: ConsistencyConfig) -> int:
    """N(k), the number of noise levels at training step k of K (iCT eq. 7):
    min(s0·2^⌊k/K'⌋, s1) + 1, K' = ⌊K / (log2⌊s1/s0⌋ + 1)⌋."""
    s0, s1 = config.initial_discretization, config.final_discretization
    stage = max(1, total_steps // (int(math.log2(s1 // s0)) + 1))
    return min(s0 * 2 ** (step // stage), s1) + 1


def noise_levels(n: int, config: ConsistencyConfig) -> Tensor:
    """σ_1 < … < σ_N, Karras et al.'s discretisation (EDM eq. 5, ascending), float64."""
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    lo, hi = config.sigma_min ** (1 / config.rho), config.sigma_max ** (1 / config.rho)
    return (lo + ramp * (hi - lo)) ** config.rho


def consistency_training_loss(
    model: Callable[[Tensor, Tensor, Tensor], Tensor], target: Tensor, cond: Tensor, weights: Tensor,
    config: ConsistencyConfig, step: int, total_steps: int, generator: torch.Generator | None = None,
) -> Tensor:
    """iCT's loss (eq. 6 with λ(σ_i) = 1/(σ_{i+1} − σ_i) and the pseudo-Huber metric), a scalar.

    target: (B, C, H, W); cond: the net's conditioning; weights: (H,) cos(latitude), mean 1.
    The lower level's output is the target without gradient (iCT drops the EMA teacher).
    """
    sigmas = noise_levels(discretization(step, total_steps, config), config)
    log_sigmas = sigmas.log()
    # iCT eq. 8: level i is drawn with the lognormal's mass between σ_i and σ_{i+1}.
    cdf = torch.erf((log_sigmas - config.P_mean) / (math.sqrt(2) * config.P_std))
    index = torch.multinomial(cdf[1:] - cdf[:-1], target.shape[0], replacement=True, generator=generator)
    lo = sigmas[index].to(target.dtype).to(target.device)
    hi = sigmas[index + 1].to(target.dtype).to(target.device)
    eps = torch.randn(target.shape, generator=generator, dtype=target.dtype, device=target.device)
    per_sample = (-1, 1, 1, 1)
    student = model(target + hi.view(per_sample) * eps, hi, cond)
    with torch.no_grad():
        teacher = model(target + lo.view(per_sample) * eps, lo, cond)
    squared = ((student - teacher) ** 2 * weights.view(-1, 1)).flatten(1).sum(dim=1)
    c = config.huber_c * math.sqrt(target[0].numel())
    distance = (squared + c**2).sqrt() - c
    return (distance / (hi - lo)).mean()


def consistency_sample(
    model: Callable[[Tensor, Tensor, Tensor], Tensor], cond: Tensor, noise: Callable[[], Tensor],
    sigmas: Sequence[float], sigma_min: float,
) -> Tensor:
    """Multistep consistency sampling (Song et al. 2023, Algorithm 1): x = f(σ_0·z, σ_0), then
    for each further level σ: x = f(x + √(σ² − σ_min²)·z, σ). One evaluation per level.
    noise() returns a fresh standard normal tensor shaped like the sample."""
    def f(x: Tensor, sigma: float) -> Tensor:
        return model(x, torch.full((x.shape[0],), sigma, dtype=x.dtype, device=x.device), cond)

    x = f(sigmas[0] * noise(), sigmas[0])
    for sigma in sigmas[1:]:
        x = f(x + math.sqrt(sigma**2 - sigma_min**2) * noise(), sigma)
    return x
