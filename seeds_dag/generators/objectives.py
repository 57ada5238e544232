"""The training loss of each generator, on one batch of anomaly trajectories.

Every loss takes the model, the target anomalies (B, C, H, W), the seeds' summary (B, 2C, H, W),
the latitude weights (H,) and the step's random generator; the training loop
(`seeds_dag.training`) is the same for all.
"""

import torch
from torch import Tensor, nn

from seeds_dag.diffusion.consistency import consistency_sample, consistency_training_loss
from seeds_dag.diffusion.edm import edm_loss
from seeds_dag.generators.crps import almost_fair_crps, lead_pair_crps, variable_pair_crps, zonal_spectral_crps
from seeds_dag.generators.kinds import ConsistencyCRPSConfig, CRPSConfig, Objective, kind_of
from seeds_dag.networks.generator import noise_shapes
from seeds_dag.networks.unet import DenoiserConfig


def _members(sample_one, cond: Tensor, members: int) -> Tensor:
    """`members` samples for every example: sample_one(cond repeated) -> (B·M, C, H, W), returned
    as (B, M, C, H, W). The members of an example share its conditioning and differ by noise."""
    batch = cond.shape[0]
    samples = sample_one(cond.repeat_interleave(members, dim=0))
    return samples.unflatten(0, (batch, members))


def crps_generator_loss(model: nn.Module, target: Tensor, cond: Tensor, weights: Tensor, objective: CRPSConfig,
                        generator: torch.Generator | None) -> Tensor:
    """afCRPS of `objective.members` one-pass members G(z, cond), z ~ N(0, I), against the target,
    plus `objective.lead_pair_weight` times that of the sums and differences of consecutive leads
    (`lead_pair_crps`: how a member's leads go together), `objective.variable_pair_weight` times
    that of pairs of variables (`variable_pair_crps`: how its variables go together) and
    `objective.spectral_weight` times that of zonal Fourier coefficients (`zonal_spectral_crps`:
    its variance scale by scale)."""
    config = network_config(model)

    def sample_one(repeated: Tensor) -> Tensor:
        batch, device = repeated.shape[0], repeated.device
        z, *coarse_noise = (torch.randn(batch, *shape, generator=generator, device=device)
                            for shape in noise_shapes(config, repeated.shape[-2:]))
        return model(z, repeated, *coarse_noise)

    members = _members(sample_one, cond, objective.members)
    loss = almost_fair_crps(members, target, weights, objective.alpha)
    if objective.lead_pair_weight > 0 and config.num_leads > 1:
        loss = loss + objective.lead_pair_weight * lead_pair_crps(members, target, weights, objective.alpha,
                                                                  config.num_leads)
    if objective.variable_pair_weight > 0 and config.num_variables > 1:
        loss = loss + objective.variable_pair_weight * variable_pair_crps(members, target, weights, objective.alpha,
                                                                          config.num_leads)
    if objective.spectral_weight > 0:
        loss = loss + objective.spectral_weight * zonal_spectral_crps(members, target, weights, objective.alpha)
    return loss


def network_config(model: nn.Module) -> DenoiserConfig:
    """The generator's architecture, through a DDP wrapper too (which holds it as model.module)."""
    return getattr(model, "module", model).config


def consistency_crps_loss(model: nn.Module, target: Tensor, cond: Tensor, weights: Tensor,
                          objective: ConsistencyCRPSConfig, generator: torch.Generator | None) -> Tensor:
    """afCRPS of members sampled exactly as at inference (`consistency_sample` over
    objective.sample_sigmas), with gradients through every evaluation (Swift's fine-tuning)."""
    def sample_one(repeated: Tensor) -> Tensor:
        shape = (repeated.shape[0], repeated.shape[1] // 2, *repeated.shape[2:])

        def noise() -> Tensor:
            return torch.randn(shape, generator=generator, device=repeated.device)

        return consistency_sample(model, repeated, noise, objective.sample_sigmas, objective.sigma_min)

    members = _members(sample_one, cond, objective.crps_members)
    return almost_fair_crps(members, target, weights, objective.crps_alpha)


def training_loss(model: nn.Module, objective: Objective, target: Tensor, cond: Tensor, weights: Tensor,
                  generator: torch.Generator | None, step: int) -> Tensor:
    """The loss of step `step` (1-based), by the objective's kind."""
    kind = kind_of(objective)
    if kind == "edm":
        return edm_loss(model, target, cond, weights, objective, generator=generator)
    if kind == "crps":
        return crps_generator_loss(model, target, cond, weights, objective, generator)
    if step > objective.consistency_steps:
        return consistency_crps_loss(model, target, cond, weights, objective, generator)
    return consistency_training_loss(model, target, cond, weights, objective, step - 1, objective.consistency_steps,
                                     generator)
