"""Drawing members with each generator, and what that costs in network evaluations (NFE).

Every member's noise comes from its own random generator, drawn on the CPU in a fixed order
(`member_noise`), so a member is the same whatever batch it is drawn in and on every device.
"""

from collections.abc import Callable

import torch
from torch import Tensor, nn

from seeds_dag.diffusion.consistency import ConsistencyModel, consistency_sample
from seeds_dag.diffusion.dpm_solver import dpm_solver_2m
from seeds_dag.diffusion.sampler import heun_sample
from seeds_dag.generators.kinds import model_kind
from seeds_dag.networks.generator import NoiseGenerator, noise_shapes


def member_noise(generators: list[torch.Generator], shape: tuple[int, ...], device: torch.device | str
                 ) -> Callable[[], Tensor]:
    """noise() -> (len(generators), *shape) standard normal on `device`, row i from generators[i]."""
    def noise() -> Tensor:
        return torch.stack([torch.randn(shape, generator=g) for g in generators]).to(device)

    return noise


def nfe(model: nn.Module, sampler) -> int:
    """Network evaluations per member (all leads together) of `model` with the EDM `sampler`
    settings (`emulation.SamplerConfig`; used by the edm generator only)."""
    kind = model_kind(model)
    if kind == "crps":
        return 1
    if kind == "consistency":
        return len(model.config.sample_sigmas)
    return sampler.nfe


def sample_anomalies(model: nn.Module, cond: Tensor, generators: list[torch.Generator], sampler) -> Tensor:
    """Anomaly trajectories (B, C, H, W) of B members, one generator each, given the seeds'
    summary cond (B, 2C, H, W); `sampler` (`emulation.SamplerConfig`) sets the edm generator's
    solver and schedule."""
    field_shape = (cond.shape[1] // 2, *cond.shape[2:])
    device = cond.device
    if isinstance(model, NoiseGenerator):
        # z, then the spatial noise (if any): each member's from its own generator, in this order.
        z, *coarse_noise = (member_noise(generators, shape, device)()
                            for shape in noise_shapes(model.config, model.unet.grid))
        return model(z, cond, *coarse_noise)
    noise = member_noise(generators, field_shape, device)
    if isinstance(model, ConsistencyModel):
        return consistency_sample(model, cond, noise, model.config.sample_sigmas, model.config.sigma_min)

    def denoiser(x: Tensor, sigma: Tensor) -> Tensor:
        return model(x, sigma, cond)

    sigmas = sampler.sigmas()
    x_T = sigmas[0].item() * noise()
    if sampler.solver == "dpm_solver_2m":
        return dpm_solver_2m(denoiser, x_T, sigmas)
    return heun_sample(denoiser, x_T, sigmas, S_churn=sampler.S_churn, S_tmin=sampler.S_tmin,
                       S_tmax=sampler.S_tmax, S_noise=sampler.S_noise, noise=noise)
