"""EDM preconditioning and training loss (Karras et al. 2022, "Elucidating the Design Space of
Diffusion-Based Generative Models", Table 1 and Sec. 5).

The network F never sees the raw noisy field: `EDMPrecond` scales its input and output so that
both have unit variance at every noise level, and mixes in the noisy input through a skip.
"""

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class EDMConfig:
    """EDM hyper-parameters, defaults from Table 1 of Karras et al. (2022).

    sigma_data: std of the data; 1 because fields are normalised to unit variance.
    P_mean, P_std: training noise levels are ln(sigma) ~ N(P_mean, P_std²).
    The sampling schedule (σ_min, σ_max, steps, solver) is not a training setting: it is chosen at
    sampling time (`emulation.SamplerConfig`), the same for any trained model.
    """

    sigma_data: float = 1.0
    P_mean: float = -1.2
    P_std: float = 1.2


def edm_coefficients(sigma: Tensor, sigma_data: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Preconditioning of Table 1: c_skip, c_out, c_in, c_noise, each shaped like `sigma`.

    c_skip = sd² / (σ² + sd²),  c_out = σ·sd / sqrt(σ² + sd²),
    c_in = 1 / sqrt(σ² + sd²),  c_noise = ln(σ) / 4.
    """
    total_variance = sigma**2 + sigma_data**2
    c_skip = sigma_data**2 / total_variance
    c_out = sigma * sigma_data / total_variance.sqrt()
    c_in = 1 / total_variance.sqrt()
    c_noise = sigma.log() / 4
    return c_skip, c_out, c_in, c_noise


class EDMPrecond(nn.Module):
    """Denoiser D(x; σ) = c_skip·x + c_out·F(c_in·x, c_noise, cond)  (EDM eq. 7).

    `net(x_in, c_noise, cond) -> F` is any network with that signature, e.g.
    `seeds_dag.networks.denoiser.ConditionalDenoiser`.
    """

    def __init__(self, net: nn.Module, sigma_data: float) -> None:
        super().__init__()
        self.net = net
        self.sigma_data = sigma_data

    def forward(self, x: Tensor, sigma: Tensor, cond: Tensor) -> Tensor:
        """x: (B, C, H, W) noisy target (a trajectory: C = L·V); sigma: (B,); cond: the
        conditioning the net takes (for the SEEDS denoiser the seeds' summary, (B, 2C, H, W)).
        Returns the denoised target, (B, C, H, W)."""
        c_skip, c_out, c_in, c_noise = edm_coefficients(sigma, self.sigma_data)
        per_sample = (-1, 1, 1, 1)
        F_x = self.net(c_in.view(per_sample) * x, c_noise, cond)
        return c_skip.view(per_sample) * x + c_out.view(per_sample) * F_x


def edm_loss(
    precond: Callable[[Tensor, Tensor, Tensor], Tensor],
    target: Tensor,
    cond: Tensor,
    weights: Tensor,
    config: EDMConfig,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Area-weighted EDM loss (eq. 8 with the weighting λ(σ) of Table 1), a scalar.

    L = mean over (B, C, H, W) of λ(σ)·w_lat·(D(y + σε; σ) − y)²,
    ln σ ~ N(P_mean, P_std²), ε ~ N(0, I), λ(σ) = (σ² + sd²) / (σ·sd)².

    target: (B, C, H, W); cond: the net's conditioning (B, ...);
    weights: (H,) cos(latitude) normalised to mean 1, so the mean is a global area mean.
    `config.sigma_data` must be the one `precond` was built with.
    """
    batch = target.shape[0]
    n = torch.randn(batch, generator=generator, dtype=target.dtype, device=target.device)
    sigma = (config.P_mean + config.P_std * n).exp()
    eps = torch.randn(target.shape, generator=generator, dtype=target.dtype, device=target.device)
    per_sample = (-1, 1, 1, 1)
    denoised = precond(target + sigma.view(per_sample) * eps, sigma, cond)
    lam = (sigma**2 + config.sigma_data**2) / (sigma * config.sigma_data) ** 2
    squared_error = (denoised - target) ** 2 * weights.view(-1, 1)
    return (lam.view(per_sample) * squared_error).mean()
