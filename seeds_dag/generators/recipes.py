"""A training run's objective settings for each generator, from the few numbers a run is given.

The training assets (`assets/training.py`) and the benchmarks (`benchmarks/skill.py`,
`benchmarks/cost.py`) all build their objectives here, so that a benchmark measures what ships;
the choice of each model's generator (`DEFAULT_GENERATOR`, `POST_PROCESSOR_GENERATOR`,
`POST_PROCESSOR_TRUTH_PROBABILITY`) lives here too, with the evidence for it, and the assets and
the benchmarks read it from here. The settings' own defaults stay
with their dataclasses (`generators.kinds`, `diffusion.consistency`); what lives here is how a
run's length and choices map onto them.
"""

from seeds_dag.diffusion.consistency import ConsistencyConfig
from seeds_dag.generators.kinds import CRPSConfig, Objective, objective_for

DEFAULT_GENERATOR = "crps"
"""The emulator's generator, by the written rule (`seeds_dag.verification.targets.choose_generator`:
most realism targets met, then within 1 % of the best perfect-model fair CRPS, then fewest network
passes, then the largest share of realism values within bounds), applied to the main job's 3 inits (29 physics members each playing the truth, 800 training
steps; docs/benchmarks.md): every generator missed all four realism targets, and the perfect-model
fair CRPS over ideal-2's, mean over leads, was 1.039 for `crps` with spatial noise (1 pass),
1.059 for `edm` (DPM-Solver++(2M), 16 passes) and 1.065 for `crps` without spatial noise. The skill
benchmark applies the same rule over ≥ 12 held-out inits; it has not been rerun since (docs/benchmarks.md)."""
POST_PROCESSOR_GENERATOR = "edm"
"""The post-processor's generator when `method` is "generator": GPP is judged against the truth, not
in a perfect model. On the same 3 inits its fair CRPS over physics-31's was 1.18 / 1.08 / 1.01 /
0.96 / 0.97 / 0.90 with `edm` and 1.17 / 1.10 / 1.08 / 1.05 / 1.03 / 0.93 with `crps`."""
POST_PROCESSOR_TRUTH_PROBABILITY = 1.0
"""The chance that a training example's target is the truth, for a post-processor trained as a
generator (`TrainingConfig.truth_probability`; 0, the default there, is the emulator): always the
truth. The skill benchmark trains the same unless given other p (`--gpp-probabilities`)."""
CRPS_FINETUNE_STEPS = 200
"""The consistency generator's last steps, trained on the afCRPS of members sampled as at
inference (Swift's recipe) after consistency training: the skill run of docs/benchmarks.md (issues 3, 4,
13: consistency 1.059 against edm's 1.039) fine-tuned 200 of 1500 steps."""
CONSISTENCY_SIGMA_MID = 0.8
"""The second noise level of two-step consistency sampling (iCT's 0.821 on images, rounded)."""
CONSISTENCY_EVALUATIONS = len(ConsistencyConfig.sample_sigmas)
"""Network evaluations per consistency member unless asked otherwise: ConsistencyConfig's one."""


def generator_objective(generator: str, steps: int, *, crps_members: int = CRPSConfig.members,
                        crps_alpha: float = CRPSConfig.alpha, crps_finetune_steps: int = CRPS_FINETUNE_STEPS,
                        consistency_evaluations: int = CONSISTENCY_EVALUATIONS,
                        crps_variable_pair_weight: float = CRPSConfig.variable_pair_weight,
                        crps_spectral_weight: float = CRPSConfig.spectral_weight) -> Objective:
    """The objective settings of a `steps`-step run of `generator` ("edm", "crps", "consistency").

    crps: the afCRPS of `crps_members` members an example with `crps_alpha`, CRPSConfig's
        lead-pair term, and the variable-pair and zonal spectral terms weighted
        `crps_variable_pair_weight` and `crps_spectral_weight` (CRPSConfig says why they are off by
        default). consistency: consistency training for steps − `crps_finetune_steps`
        steps (its curriculum spans them; none when fine-tuning takes the whole run), then
        afCRPS fine-tuning of `crps_members` members with `crps_alpha`, sampling as at inference
        with `consistency_evaluations` (1: σ_max; 2: σ_max, then CONSISTENCY_SIGMA_MID). edm:
        EDMConfig's defaults; it takes none of the other settings.
    Raising `steps` extends a finished crps or edm run, but changes a consistency run's
    consistency training, so its checkpoint is stale and it trains afresh. An unknown generator or
    evaluation count is refused by name.
    """
    if generator == "crps":
        return objective_for("crps", members=crps_members, alpha=crps_alpha,
                             variable_pair_weight=crps_variable_pair_weight, spectral_weight=crps_spectral_weight)
    if generator == "consistency":
        if consistency_evaluations not in (1, 2):
            raise ValueError(f"consistency_evaluations must be 1 or 2, got {consistency_evaluations}")
        sigmas = (ConsistencyConfig.sigma_max, CONSISTENCY_SIGMA_MID)[:consistency_evaluations]
        return objective_for("consistency", consistency_steps=max(0, steps - crps_finetune_steps),
                             crps_members=crps_members, crps_alpha=crps_alpha, sample_sigmas=sigmas)
    return objective_for(generator)
