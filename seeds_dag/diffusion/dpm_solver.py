"""DPM-Solver++(2M): the second-order multistep solver of the probability-flow ODE in its
data-prediction form (Lu et al. 2022, "DPM-Solver++", Algorithm 2), written for EDM's
parameterisation x_σ = x_0 + σ·ε (Karras et al. 2022), where the solver's time is λ = −ln σ.

One denoiser evaluation per step (the previous step's is reused), against Heun's two. Why it is
the default of the `edm` generator: held to an exact Gaussian denoiser D = λ_k/(λ_k + σ²)·x
(tests/diffusion/test_exact_gaussian.py), 16 steps on a log-uniform schedule from σ = 80 return
every mode's variance within 5 % for mode variances 100 … 1e-4, where Heun needs 39 evaluations
for 10 % and 47 for 6 %, and Heun's former default (4 steps from σ = 10, 7 evaluations) returned
3× to 33× the variance (`emulation.SamplerConfig` has the table).
"""

import math

import torch
from torch import Tensor

from seeds_dag.diffusion.sampler import Denoiser


def dpm_solver_2m(denoiser: Denoiser, x_T: Tensor, sigmas: Tensor) -> Tensor:
    """DPM-Solver++(2M), deterministic.

    x_T: (B, ...) initial state at the first noise level, x_T ~ N(0, sigmas[0]² I).
    sigmas: (N + 1,) decreasing schedule σ_0 > ... > σ_N = 0, e.g. from `karras_sigmas`.
    Step i from σ_i to σ_{i+1}, with h_i = ln(σ_i / σ_{i+1}) and D_i = D(x_i; σ_i):
        x_{i+1} = (σ_{i+1}/σ_i)·x_i + (1 − e^{−h_i})·D̂_i,
        D̂_i = D_i (first step),  (1 + 1/(2r))·D_i − 1/(2r)·D_{i−1} with r = h_{i−1}/h_i (after);
    the last step, to σ = 0, returns D̂ = D_{N−1} (the first-order update, as Algorithm 2 ends).
    Returns x_0 with the shape of x_T; N network evaluations.
    """
    def D(x: Tensor, sigma: float) -> Tensor:
        return denoiser(x, torch.full((x.shape[0],), sigma, dtype=x.dtype, device=x.device))

    x = x_T
    previous: tuple[Tensor, float] | None = None  # (D_{i−1}, h_{i−1})
    for sigma, sigma_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        denoised = D(x, sigma)
        if sigma_next == 0:
            return denoised
        h = math.log(sigma / sigma_next)
        estimate = denoised
        if previous is not None:
            previous_denoised, previous_h = previous
            half_over_r = h / (2 * previous_h)
            estimate = (1 + half_over_r) * denoised - half_over_r * previous_denoised
        x = (sigma_next / sigma) * x - math.expm1(-h) * estimate
        previous = denoised, h
    return x
