"""Noise schedules and samplers, k-diffusion style: a schedule is a tensor of sigmas, a sampler is
a function of (denoiser, x, sigmas). Equations refer to Karras et al. (2022), "EDM".
"""

import math
from typing import Callable

import torch
from torch import Tensor

Denoiser = Callable[[Tensor, Tensor], Tensor]
"""denoiser(x, sigma) -> D(x; σ): x of any shape (B, ...), sigma (B,); cond/lead bound by the caller."""


def karras_sigmas(num_steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Tensor:
    """EDM eq. 5: σ_i = (σ_max^(1/ρ) + i/(N−1)·(σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ, i = 0..N−1, then σ_N = 0.

    rho = inf is the limit of eq. 5, log-uniform levels: ln σ_i = ln σ_max + i/(N−1)·(ln σ_min − ln σ_max).
    Returns a float64 tensor of shape (num_steps + 1,), decreasing from sigma_max to sigma_min, then 0.
    """
    if num_steps < 1:
        raise ValueError(f"karras_sigmas needs num_steps >= 1, got {num_steps}")
    ramp = torch.linspace(0, 1, num_steps, dtype=torch.float64)
    if math.isinf(rho):
        log_sigmas = math.log(sigma_max) + ramp * (math.log(sigma_min) - math.log(sigma_max))
        return torch.cat([log_sigmas.exp(), log_sigmas.new_zeros(1)])
    max_inv_rho = sigma_max ** (1 / rho)
    min_inv_rho = sigma_min ** (1 / rho)
    sigmas = (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def number_of_denoiser_evaluations(num_steps: int) -> int:
    """NFE of `heun_sample` on a schedule ending in 0: two per step, one at the last (Euler) step."""
    return 2 * num_steps - 1


def heun_sample(
    denoiser: Denoiser,
    x_T: Tensor,
    sigmas: Tensor,
    S_churn: float = 0.0,
    S_tmin: float = 0.0,
    S_tmax: float = float("inf"),
    S_noise: float = 1.0,
    generator: torch.Generator | None = None,
    noise: Callable[[], Tensor] | None = None,
) -> Tensor:
    """Stochastic Heun sampler, Algorithm 2 of EDM.

    x_T: (B, ...) initial state already scaled to the first noise level, x_T ~ N(0, sigmas[0]² I).
    sigmas: (N + 1,) decreasing schedule t_0 > ... > t_N = 0, e.g. from `karras_sigmas`.
    S_churn, S_tmin, S_tmax, S_noise: churn parameters of Algorithm 2 (S_churn = 0 gives the
    deterministic 2nd-order ODE solver of Algorithm 1).
    noise: optional source of the churn noise ε (a tensor shaped like x_T), for callers that need
    noise per sample rather than per batch; by default ε is drawn from `generator`.
    Returns x_0 with the shape of x_T.
    """
    num_steps = len(sigmas) - 1
    gamma_churn = min(S_churn / num_steps, math.sqrt(2) - 1)

    def D(x: Tensor, t: float) -> Tensor:
        return denoiser(x, torch.full((x.shape[0],), t, dtype=x.dtype, device=x.device))

    x_next = x_T
    for t_cur, t_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        x_cur = x_next
        # Lines 4-6: temporarily raise the noise level to t_hat by adding fresh noise.
        gamma = gamma_churn if S_tmin <= t_cur <= S_tmax else 0.0
        t_hat = t_cur + gamma * t_cur
        x_hat = x_cur
        if gamma > 0:
            eps = noise() if noise is not None else torch.randn(
                x_cur.shape, generator=generator, dtype=x_cur.dtype, device=x_cur.device)
            x_hat = x_cur + math.sqrt(t_hat**2 - t_cur**2) * S_noise * eps
        # Lines 7-8: Euler step from t_hat to t_next.
        d_cur = (x_hat - D(x_hat, t_hat)) / t_hat
        x_next = x_hat + (t_next - t_hat) * d_cur
        # Lines 9-11: 2nd-order correction, except at the last step where t_next = 0.
        if t_next != 0:
            d_prime = (x_next - D(x_next, t_next)) / t_next
            x_next = x_hat + (t_next - t_hat) * (0.5 * d_cur + 0.5 * d_prime)
    return x_next
