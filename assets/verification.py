"""Verification of one init: scores of the seeds, the physics ensemble and the emulated ensembles
against truth, the daily headline numbers and the skill checks (the summary over every scored init
is `assets.summary`)."""


from typing import NamedTuple

import numpy as np
import pandas as pd
import xarray as xr
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from assets.automation import follows_dependencies
from assets.climatology import CLIMATOLOGY, climatology
from assets.ensembles import daily_emulated_ensembles
from assets.metadata import table_metadata, worker_metadata
from assets.object_names import (
    BIAS_MAPS,
    CALIBRATION,
    COHERENCE,
    MERIDIONAL,
    EXTREMES,
    MULTIVARIATE,
    PERFECT_MODEL,
    PERFECT_MODEL_RANKS,
    RANK_HISTOGRAMS,
    RELIABILITY,
    ROC,
    SPECTRA,
    VARIABLE_MOMENTS,
)
from assets.partitions import OPERATIONAL_INITS
from assets.science_configs import science_config
from assets.sources import operational_ensemble, truth
from assets.versions import CODE_VERSIONS
from resources import StorageResource
from seeds_dag.conventions import FORECAST_DIMS, VARIABLES, DataValidationError, validate
from seeds_dag.emulated_ensemble import EnsembleProvenance
from seeds_dag.emulation import forecast_seed, model_ensembles
from seeds_dag.store import ArtifactStore
from seeds_dag.store.objects import TABLE
from seeds_dag.truth_alignment import align_truth
from seeds_dag.verification.calibration import calibration_table
from seeds_dag.verification.climatology import climatological_scale_of
from seeds_dag.verification.coherence_table import coherence_columns, coherence_summary, coherence_table
from seeds_dag.verification.meridional_table import meridional_table
from seeds_dag.verification.extremes_table import extremes_tables
from seeds_dag.verification.ensemble_names import (
    IDEAL,
    SEEDS,
    ensemble_name,
    ensembles_to_verify,
    model_family,
    physics_and_emulated,
    reference_model,
)
from seeds_dag.verification.bias_table import bias_map_table
from seeds_dag.verification.spectra_table import spectrum_table
from seeds_dag.verification.monitoring import (
    SkillBounds,
    crps_alarms,
    headline_scores,
    spread_skill_alarms,
)
from seeds_dag.verification.multivariate import variable_correlation_table
from seeds_dag.verification.multivariate_table import energy_score_table
from seeds_dag.verification.perfect_model import perfect_model_tables
from seeds_dag.verification.perfect_model_summary import (
    FAIR_OVER_IDEAL,
    perfect_model_by_lead,
    perfect_model_summary,
)
from seeds_dag.verification.scores_table import MODEL, rank_table, score_table

SCORES = "verification_scores"
SUMMARY = "verification_summary"
_BOUNDS = SkillBounds()
CRPS_CHECK, SPREAD_SKILL_CHECK = "emulated_crps_within_bound", "emulated_spread_skill_in_range"


class VerificationConfig(Config):
    """When the skill checks of a scored init warn (`SkillBounds`)."""

    max_crps_over_physics: float = Field(
        default=_BOUNDS.max_crps_over_physics, description="Warn when an emulated ensemble's fair "
        "CRPS over the physics ensemble's (mean over variables and leads) exceeds this.")
    spread_skill_range: list[float] = Field(
        default=list(_BOUNDS.spread_skill_range), description="Warn when an emulated ensemble's "
        "spread/skill (mean over variables and leads) lies outside [low, high].")

    def bounds(self) -> SkillBounds:
        if len(self.spread_skill_range) != 2:
            raise ValueError(f"spread_skill_range must be [low, high], got {self.spread_skill_range}")
        return science_config(SkillBounds, self)


class VerifiedEnsembles(NamedTuple):
    """The ensembles of one init by model name (`ensemble_names.ensembles_to_verify`), and the indices of
    the seed members in the physics ensemble."""

    ensembles: dict[str, xr.Dataset]
    seed_members: tuple[int, ...]


def read_verified_ensembles(store: ArtifactStore, key: str) -> VerifiedEnsembles:
    """The ensembles to verify for one init, each validated as the conventions require (so
    damage done to a stored ensemble is refused by name, not scored), the seeds being the
    members the emulated ensemble's provenance names."""
    variables = list(VARIABLES)
    where = f"{SCORES}[{key}]"
    physics = validate(store.load_dataset("operational_ensemble", key)[variables], FORECAST_DIMS,
                       f"{where}: operational_ensemble[{key}]")
    emulated_ds = store.load_dataset("daily_emulated_ensembles", key)
    provenance = EnsembleProvenance.of(emulated_ds, f"{where}: daily_emulated_ensembles[{key}]")
    emulated = emulated_ds[variables]
    for model, ensemble in model_ensembles(emulated).items():
        validate(ensemble, FORECAST_DIMS, f"{where}: daily_emulated_ensembles[{key}] model {model}")
    if max(provenance.seed_members) >= physics.sizes["member"]:
        raise DataValidationError(f"{where}: the emulated ensemble's seed members "
                                  f"{list(provenance.seed_members)} are not all members of the "
                                  f"{physics.sizes['member']}-member operational ensemble")
    seed_members = tuple(provenance.seed_members)
    return VerifiedEnsembles(ensembles_to_verify(physics, emulated, list(seed_members)),
                             seed_members)


def _skill_check(name: str, problems: list[str], headline: pd.DataFrame) -> AssetCheckResult:
    return AssetCheckResult(check_name=name, passed=not problems, severity=AssetCheckSeverity.WARN,
                            metadata={"problems": MetadataValue.json(problems),
                                      "headline": table_metadata(headline.rename_axis(MODEL))})


@asset(group_name="verification", partitions_def=OPERATIONAL_INITS,
       deps=[daily_emulated_ensembles, operational_ensemble, truth, climatology],
       code_version=CODE_VERSIONS[SCORES], automation_condition=follows_dependencies(),
       check_specs=[AssetCheckSpec(CRPS_CHECK, asset=SCORES, description="Warns when an emulated "
                                   "ensemble's fair CRPS over the physics ensemble's exceeds the bound."),
                    AssetCheckSpec(SPREAD_SKILL_CHECK, asset=SCORES, description="Warns when an "
                                   "emulated ensemble's spread/skill leaves the range.")],
       description="Fair and standard CRPS, ensemble-mean RMSE, spread, spread/skill, rank "
       "histograms, Brier/reliability/ROC of climatological extremes, bias maps, zonal spectra, "
       "lead-to-lead and latitude-to-latitude coherence of members, the energy score over the "
       "variables and the "
       "cross-variable moments of members of the seeds (the members the emulated ensemble was "
       "made from), the physics ensemble and the emulated ensembles for one init, against truth; "
       "perfect-model scores (fair and standard CRPS, spread/skill, rank counts) of the seeds, "
       "ideal-K and the emulated ensembles against each non-seed physics member in turn; the "
       "variance of emulated members about the seeds' mean by zonal wavenumber band over the "
       "physics members'; "
       "skill checks warn when an emulated ensemble degrades.")
def verification_scores(context: AssetExecutionContext, config: VerificationConfig,
                        storage: StorageResource) -> MaterializeResult:
    bounds = config.bounds()
    store = storage.store()
    key = context.partition_key
    variables = list(VARIABLES)
    ensembles, seed_members = read_verified_ensembles(store, key)
    physics_name, emulated_names = physics_and_emulated(ensembles)
    physics = ensembles[physics_name]
    seeds = reference_model(ensembles, SEEDS)
    truth_ds = store.open_dataset("truth")[variables]
    observed = align_truth(truth_ds, physics["init_time"].values, physics["lead_time"].values).load()
    climate = store.load_dataset(CLIMATOLOGY)
    scale = climatological_scale_of(climate)
    scores = score_table(ensembles, observed)
    # Perfect model: each non-seed physics member plays the truth; ideal-K is built without it.
    ideal = ensemble_name(IDEAL, len(seed_members))
    perfect = perfect_model_tables(physics, seed_members,
                                   {model: ensembles[model] for model in (seeds, *emulated_names)},
                                   ideal, forecast_seed(key))
    extremes = extremes_tables(ensembles, observed, climate[variables])
    tables = {
        TABLE: scores,
        # Ties broken by draws keyed by the init: a rematerialisation gives the same counts.
        RANK_HISTOGRAMS: rank_table(ensembles, observed, forecast_seed(key)),
        EXTREMES: extremes.extremes,
        RELIABILITY: extremes.reliability,
        ROC: extremes.roc,
        BIAS_MAPS: bias_map_table(ensembles, observed),
        SPECTRA: spectrum_table(ensembles, observed),
        MULTIVARIATE: energy_score_table(ensembles, observed, scale),
        VARIABLE_MOMENTS: variable_correlation_table(ensembles),
        MERIDIONAL: meridional_table(ensembles),
        PERFECT_MODEL: perfect.scores,
        PERFECT_MODEL_RANKS: perfect.ranks,
        CALIBRATION: calibration_table({physics_name: physics, **{m: ensembles[m] for m in emulated_names}},
                                       physics_name, seed_members),
    }
    coherence = {}
    if physics.sizes["lead_time"] >= 2:
        tables[COHERENCE] = coherence_table(ensembles)
        wide = coherence_columns(coherence_summary(tables[COHERENCE]), physics_name)
        coherence["coherence"] = table_metadata(wide)
    else:
        context.log.warning(f"{SCORES}[{key}]: one lead only, no lead-to-lead coherence")
    # One commit: a reader (the summary) never pools some of this init's new tables with others
    # of its previous scoring, and a failure part-way leaves the previous tables whole.
    with store.objects_writer(SCORES, key) as scored:
        for name, table in tables.items():
            scored.write_table(table, name)
    crps = scores.pivot_table(index=["variable", "lead_time_days"], columns="model",
                              values="crps")[list(ensembles)]
    headline = headline_scores(scores, seeds, physics_name, emulated_names)
    # Plain floats per model family and ratio ("gee_fair_crps_over_physics", named without the
    # ensemble size so a series survives a change of N): the asset page's Plots chart them over
    # the materialisations ("Events"; its "Partitions" view, by init, the operational inits).
    numbers = {f"{model_family(model)}_{column}": float(round(value, 4))
               for model, row in headline.iterrows() for column, value in row.items()
               if np.isfinite(value)}
    # The perfect-model figure of merit, a mean over variables and leads as the headline's.
    perfect_ratio = perfect_model_by_lead(perfect_model_summary(
        perfect.scores, perfect.ranks, seeds, ideal)).groupby(MODEL)[FAIR_OVER_IDEAL].mean()
    numbers |= {f"{model_family(model)}_perfect_model_{FAIR_OVER_IDEAL}":
                float(round(perfect_ratio[model], 4)) for model in emulated_names}
    return MaterializeResult(
        metadata={
            "location": store.location(SCORES, key),
            **numbers,
            "crps": table_metadata(crps),
            "crps_markdown": MetadataValue.md(crps.to_markdown(floatfmt=".4g")),
            **coherence,
            "rows": len(scores),
            "models": MetadataValue.json(list(ensembles)),
            "seeds": seeds,
            "climatology_days": int(climate.attrs["days"]),
            "energy_score_scale": MetadataValue.json(scale),
            **worker_metadata(),
        },
        check_results=[
            _skill_check(CRPS_CHECK, crps_alarms(headline, emulated_names, bounds), headline),
            _skill_check(SPREAD_SKILL_CHECK, spread_skill_alarms(headline, emulated_names, bounds),
                         headline),
        ],
    )
