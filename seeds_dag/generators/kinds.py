"""Generator kinds: the objective settings that name each, and building its network.

A generator is identified by the type of its objective's settings (EDMConfig, ConsistencyConfig,
CRPSConfig), which the checkpoint stores under the kind's name; one network (`networks.unet`)
serves all three.
"""

from dataclasses import dataclass

import numpy as np
from torch import nn

from seeds_dag.diffusion.consistency import ConsistencyConfig, ConsistencyModel
from seeds_dag.diffusion.edm import EDMConfig, EDMPrecond
from seeds_dag.networks.denoiser import ConditionalDenoiser
from seeds_dag.networks.generator import NoiseGenerator
from seeds_dag.networks.unet import DenoiserConfig


@dataclass(frozen=True)
class CRPSConfig:
    """The one-pass generator's objective: the almost fair CRPS (`generators.crps`) of `members`
    members generated per training example (AIFS-CRPS: 4; FGN: 2), alpha = 1 fully fair
    (AIFS-CRPS: 0.95), plus `lead_pair_weight` times the afCRPS of the sums and differences of
    consecutive leads (`crps.lead_pair_crps`, each on the per-lead scale).

    Why the lead-pair term: the CRPS of each lead is a score of its marginal distribution and
    says nothing about how a member's leads relate; trained on it alone (skill benchmark, 4
    held-out inits) members were 0.41 / -0.01 / 0.01 correlated between leads 1→3 / 3→5 / 5→7 days
    against the physics members' 0.24 / 0.21 / 0.19. The spread of a sum and of a difference of
    two leads depends on their correlation, so a proper score of both rewards the physics
    ensemble's coherence (as FourCastNet 3's spectral CRPS term rewards its spatial structure).
    Differences alone, the term before, reward anticorrelated leads where the spread per lead is
    too small (`lead_pair_crps` says why).

    variable_pair_weight weighs the afCRPS of the sums and differences of every pair of variables
    (`crps.variable_pair_crps`), which rewards the physics members' relations between variables at
    a point; spectral_weight weighs the afCRPS of zonal Fourier coefficients, every wavenumber
    scaled alike (`crps.zonal_spectral_crps`), which rewards their variance scale by scale. 0
    leaves a term out, and both are 0 by default, by the written rule
    (`verification.targets.choose_generator`) on the main job's 3 inits at 800 steps, two training
    seeds each (docs/benchmarks.md). Without the terms, where the members' variance goes depends on
    the seed: about the seeds, over the physics members' and mean over variables, 1.6–2.4× at
    zonal wavenumbers 0–3 and 6–9 % at 8–15 with one seed, 4–10× at 16+ with the other. With both
    at 1 the two seeds agree, 0.7–1.1× at 0–3, 0.9–1.4× at 4–7, 0.3–0.8× at 8–15 and 0.2–0.8×
    at 16+; but every realism target stays missed with or without them (a tie), the
    cross-variable correlations are no closer to physics' (mean |difference| 0.48–0.49 against
    0.45–0.66), and the perfect-model fair CRPS over ideal-2's is 1.050–1.056 against
    1.039–1.042, so the rule keeps them off. Trained 3× longer (2400 steps) they pay off, against
    the same schedule without them: mean |difference| of cross-variable correlations 0.32
    against 0.63, variance about the seeds 0.72–1.20 of physics per variable and lead against
    0.75–1.32, 0.46–0.86 at 8–15 against 0.15–0.23, for a perfect-model CRPS of 1.047 against
    1.034 (the rule would still keep them off) and 30 % more training time.
    """

    members: int = 4
    alpha: float = 0.95
    lead_pair_weight: float = 1.0
    variable_pair_weight: float = 0.0
    spectral_weight: float = 0.0


@dataclass(frozen=True)
class ConsistencyCRPSConfig(ConsistencyConfig):
    """Consistency training for `consistency_steps` steps (its curriculum spans them), then every
    further step on the afCRPS of `crps_members` members sampled as at inference (Swift's
    recipe). A count of steps, not a fraction of the run: `generators.recipes` sets it to the
    run's steps less its fine-tuning steps."""

    consistency_steps: int = 1000
    crps_members: int = 4
    crps_alpha: float = 0.95


Objective = EDMConfig | ConsistencyCRPSConfig | CRPSConfig
OBJECTIVES: dict[str, type] = {"crps": CRPSConfig, "consistency": ConsistencyCRPSConfig, "edm": EDMConfig}
"""Generator name -> the type of its objective's settings."""
GENERATORS = tuple(OBJECTIVES)


def kind_of(objective: Objective) -> str:
    """The generator name of an objective's settings."""
    for name, cls in OBJECTIVES.items():
        if type(objective) is cls:
            return name
    raise TypeError(f"not a generator objective: {type(objective).__name__} (one of {GENERATORS})")


def objective_for(kind: str, **settings) -> Objective:
    """The objective settings of generator `kind` (defaults overridden by `settings`); an unknown
    name is refused with the list of known ones."""
    if kind not in OBJECTIVES:
        raise ValueError(f"unknown generator {kind!r}: choose one of {list(GENERATORS)}")
    return OBJECTIVES[kind](**settings)


def build_model(objective: Objective, config: DenoiserConfig, lat_deg: np.ndarray, lon_deg: np.ndarray) -> nn.Module:
    """The untrained network of the objective's generator on the grid (degrees)."""
    kind = kind_of(objective)
    if kind == "crps":
        return NoiseGenerator(config, lat_deg, lon_deg)
    net = ConditionalDenoiser(config, lat_deg, lon_deg)
    if kind == "edm":
        return EDMPrecond(net, sigma_data=objective.sigma_data)
    return ConsistencyModel(net, objective)


def model_kind(model: nn.Module) -> str:
    """The generator name of a built model."""
    if isinstance(model, NoiseGenerator):
        return "crps"
    if isinstance(model, ConsistencyModel):
        return "consistency"
    if isinstance(model, EDMPrecond):
        return "edm"
    raise TypeError(f"not a generator model: {type(model).__name__}")


def network_config(model: nn.Module) -> DenoiserConfig:
    """The architecture of a built model."""
    return model.config if isinstance(model, NoiseGenerator) else model.net.config


def examples_per_step(objective: Objective, samples_per_step: int) -> int:
    """Training examples a step takes for a budget of `samples_per_step` network samples: the CRPS
    generator makes `members` samples of each example, the others one; at least one example. So
    the generators cost about the same a step (the consistency model's fine-tuning steps, whose
    examples cost `crps_members` samples each, cost that many times more than its
    consistency-training steps). The training assets (`compute.train_batch_size`) and the skill
    benchmark (`--train-batch`) both size their batches here."""
    per_example = objective.members if kind_of(objective) == "crps" else 1
    return max(1, samples_per_step // per_example)
