"""Scoring for the skill benchmark: every ensemble on every held-out init, pooled over inits."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from seeds_dag.conventions import VARIABLES
from seeds_dag.emulated_ensemble import DEFAULT_SEED_MEMBERS, EnsembleProvenance
from seeds_dag.emulation import forecast_seed
from seeds_dag.store import ArtifactStore
from seeds_dag.verification import ensemble_names
from seeds_dag.verification.calibration import calibration_summary, calibration_table
from seeds_dag.verification.coherence_table import coherence_columns, coherence_summary, coherence_table
from seeds_dag.verification.meridional_table import meridional_columns, meridional_summary, meridional_table
from seeds_dag.verification.extremes_table import extremes_summary, extremes_tables
from seeds_dag.verification.bias_table import MEAN_ERROR, bias_map_table
from seeds_dag.verification.spectra_table import POWER, POWER_RATIO, power_ratio_table, spectrum_table
from seeds_dag.verification.scores_table import average_over_inits
from seeds_dag.verification.multivariate import variable_correlation_summary, variable_correlation_table
from seeds_dag.verification.multivariate_table import energy_score_summary, energy_score_table
from seeds_dag.verification.perfect_model import perfect_model_tables
from seeds_dag.verification.perfect_model_summary import (
    FAIR_OVER_IDEAL,
    PERFECT_MODEL_TARGET,
    emulated_models,
    perfect_model_by_lead,
    perfect_model_summary,
)
from seeds_dag.verification.seed_sets import PostProcessingOracle, ideal_emulation, oracle_post_processing
from seeds_dag.verification.spectra import WAVENUMBER
from seeds_dag.verification.scores_table import (
    LEAD_DAYS,
    MODEL,
    VARIABLE,
    rank_flatness_table,
    rank_table,
    score_table,
    summary_table,
)
from seeds_dag.verification.targets import choose_generator, realism_scorecard, realism_share
from seeds_dag.weighting import spatial_mean

SEEDS = ensemble_names.ensemble_name(ensemble_names.SEEDS, 2)
IDEAL = ensemble_names.ensemble_name(ensemble_names.IDEAL, 2)
SEED_MEMBERS = DEFAULT_SEED_MEMBERS  # the emulators' seeds, and the reference's when none is emulated
ORACLE = "oracle-gpp-2"


def recorded_seed_members(emulated: dict[str, xr.Dataset], key: str) -> tuple[int, ...]:
    """The seed members every emulated ensemble of one init records it was made from (K = 2, the
    SEEDS and IDEAL baselines); ensembles that disagree, or that record none, are refused."""
    recorded = {model: EnsembleProvenance.of(ds, f"{model}[{key}]").seed_members
                for model, ds in emulated.items()}
    seeds = set(recorded.values()) or {tuple(SEED_MEMBERS)}
    if len(seeds) != 1 or len(next(iter(seeds))) != 2:
        raise ValueError(f"init {key}: the emulated ensembles must all be made from the same 2 seed "
                         f"members to be scored against {SEEDS} and {IDEAL}, they record {recorded}")
    return next(iter(seeds))


class InitEnsembles(NamedTuple):
    """The ensembles of one init by model name, and the seed members' indices in its physics."""

    ensembles: dict[str, xr.Dataset]
    seed_members: tuple[int, ...]


def init_ensembles(store: ArtifactStore, key: str, physics: xr.Dataset, names: dict[str, str],
                   members: int, gpp_members: int,
                   oracle: PostProcessingOracle | None = None) -> InitEnsembles:
    """model name -> forecast of one init: the seeds, the physics ensemble, the ideal emulation of
    the seeds (`ideal_emulation`), and for every emulator in `names` ("gee-<generator>" -> stored
    asset) its first 31 members ("gee-<generator>-31") and all N, and each GPP; with `oracle`, the
    oracle post-processing of the seeds (`ORACLE`, the reference GPP is held to)."""
    physics = physics[list(VARIABLES)]
    n_physics = physics.sizes["member"]
    stored_ensembles = {model: store.load_dataset(stored, key) for model, stored in names.items()}
    seed_members = recorded_seed_members(stored_ensembles, key)
    physics_name = ensemble_names.ensemble_name(ensemble_names.PHYSICS, n_physics)
    ensembles = {SEEDS: physics.isel(member=list(seed_members)), physics_name: physics,
                 IDEAL: ideal_emulation(physics, seed_members)}
    if oracle is not None:
        ensembles[ORACLE] = oracle_post_processing(physics, seed_members, oracle)
    for model, stored in stored_ensembles.items():
        emulated = stored[list(VARIABLES)]
        if model.startswith("gee") and members > n_physics:
            ensembles[f"{model}-{n_physics}"] = emulated.isel(member=slice(0, n_physics))
        ensembles[f"{model}-{members if model.startswith('gee') else gpp_members}"] = emulated
    return InitEnsembles(ensembles, seed_members)


def score_ensembles(store: ArtifactStore, operational: dict[str, xr.Dataset], truth_aligned: dict[str, xr.Dataset],
                    names: dict[str, str], members: int, gpp_members: int,
                    thresholds: xr.Dataset, scale: dict[str, float],
                    oracle: PostProcessingOracle | None = None) -> dict[str, pd.DataFrame]:
    """Scores pooled over every init, one init in memory at a time:
    - per variable and lead: CRPS, RMSE, spread, spread/skill, rank-histogram flatness per model;
    - extremes: Brier score, Brier skill score against climatology and ROC AUC of exceeding the
      climatological quantiles `thresholds` (quantile, lat, lon);
    - bias: area mean of the signed and of the absolute mean error (the map pooled over inits);
    - spectra: zonal power spectra of members and truth;
    - coherence: lead-to-lead correlation of member deviations, side by side, minus physics', and
      the same between adjacent latitudes;
    - energy score: over the variables (each divided by `scale`), fair and standard, per lead;
    - cross-variable correlation of member deviations per pair of variables and lead;
    - perfect model: the seeds, every GEE and GPP and the ideal emulation of the seeds (`IDEAL`,
      built without the member playing truth) against each non-seed physics member in turn
      (`perfect_model_tables`), and per emulator and lead the target on its fair CRPS over
      IDEAL's."""
    scores, ranks, extremes, roc, bias, spectra, coherence, meridional = [], [], [], [], [], [], [], []
    energy, moments, perfect_scores, perfect_ranks, calibration = [], [], [], [], []
    for key, physics in operational.items():
        ensembles, seed_members = init_ensembles(store, key, physics, names, members, gpp_members,
                                                 oracle)
        observed = truth_aligned[key]
        scores.append(score_table(ensembles, observed))
        ranks.append(rank_table(ensembles, observed, forecast_seed(key)))
        tables = extremes_tables(ensembles, observed, thresholds)
        extremes.append(tables.extremes)
        roc.append(tables.roc)
        bias.append(bias_map_table(ensembles, observed))
        spectra.append(spectrum_table(ensembles, observed))
        varying = {m: f for m, f in ensembles.items() if f.sizes["member"] > 1}
        coherence.append(coherence_table(varying))
        meridional.append(meridional_table(varying))
        energy.append(energy_score_table(ensembles, observed, scale))
        moments.append(variable_correlation_table(ensembles))
        # Made from the seeds alone: not the physics ensemble, IDEAL (rebuilt per member playing
        # truth) nor ORACLE (built from every physics member).
        from_seeds = {m: f for m, f in ensembles.items() if m == SEEDS or m.startswith(("gee", "gpp"))}
        perfect = perfect_model_tables(physics[list(VARIABLES)], seed_members, from_seeds, IDEAL,
                                       forecast_seed(key))
        perfect_scores.append(perfect.scores)
        perfect_ranks.append(perfect.ranks)
        physics_name = ensemble_names.ensemble_name(ensemble_names.PHYSICS, physics.sizes["member"])
        calibration.append(calibration_table(
            {physics_name: ensembles[physics_name], **{m: f for m, f in from_seeds.items() if m != SEEDS}},
            physics_name, seed_members))
    summary = summary_table(pd.concat(scores, ignore_index=True)).stack(MODEL, future_stack=True).reset_index()
    flatness = rank_flatness_table(pd.concat(ranks, ignore_index=True))
    table = summary.merge(flatness, on=[MODEL, VARIABLE, LEAD_DAYS])
    perfect_model = perfect_model_summary(pd.concat(perfect_scores, ignore_index=True),
                                          pd.concat(perfect_ranks, ignore_index=True), SEEDS, IDEAL)
    physics_name = ensemble_names.ensemble_name(ensemble_names.PHYSICS, physics.sizes["member"])
    spectra_pooled = average_over_inits(pd.concat(spectra, ignore_index=True), POWER)
    emulators = [m for m in dict.fromkeys(table[MODEL]) if str(m).startswith(("gee", "gpp"))]
    realism = {
        "power_ratios": power_ratio_table(spectra_pooled, physics_name, emulators),
        "calibration": calibration_summary(pd.concat(calibration, ignore_index=True), physics_name),
        "variable_correlation": variable_correlation_summary(pd.concat(moments, ignore_index=True), physics_name),
        "coherence": coherence_columns(coherence_summary(pd.concat(coherence, ignore_index=True)), physics_name),
        "meridional": meridional_columns(meridional_summary(pd.concat(meridional, ignore_index=True)),
                                         physics_name),
    }
    return {
        "realism targets (against the physics members)": realism_scorecard(emulators, physics_name, **realism),
        "variance about the seeds / physics members' by wavenumber band": realism["calibration"],
        "per variable and lead": _ordered(table),
        "extremes": _ordered(extremes_summary(pd.concat(extremes, ignore_index=True),
                                              pd.concat(roc, ignore_index=True))),
        "bias": _ordered(bias_summary(pd.concat(bias, ignore_index=True))),
        "spectra": average_over_inits(pd.concat(spectra, ignore_index=True), POWER),
        "coherence": realism["coherence"].reset_index(),
        "latitude-to-latitude coherence": realism["meridional"].reset_index(),
        "energy score": energy_score_summary(pd.concat(energy, ignore_index=True)),
        "cross-variable correlation": realism["variable_correlation"].reset_index(),
        "perfect model (each non-seed physics member as the truth)": perfect_model,
        "perfect-model targets (averaged over variables)": perfect_model_target_table(perfect_model),
    }



def perfect_model_target_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per emulated model (every one but the seeds and IDEAL) and lead, the means over variables
    of its perfect-model scores (`perfect_model_by_lead`: fair and standard CRPS over IDEAL's,
    spread/skill, rank-histogram max-bin share), and `meets_target`: fair CRPS over IDEAL's
    ≤ PERFECT_MODEL_TARGET."""
    by_lead = perfect_model_by_lead(summary)
    rows = by_lead[by_lead[MODEL].isin(emulated_models(summary))].reset_index(drop=True)
    return rows.assign(meets_target=rows[FAIR_OVER_IDEAL] <= PERFECT_MODEL_TARGET)


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    """Rows by variable, lead (and quantile), models in order of first appearance."""
    order = list(dict.fromkeys(table[MODEL]))
    keys = [k for k in (VARIABLE, LEAD_DAYS, "quantile") if k in table]
    table = table.assign(**{MODEL: pd.Categorical(table[MODEL], order)})
    return table.sort_values([*keys, MODEL]).reset_index(drop=True)


def bias_summary(bias_maps: pd.DataFrame) -> pd.DataFrame:
    """Per (model, variable, lead): the area mean of the mean-error map (signed: errors of either
    sign cancel) and of its absolute value (what post-processing must reduce)."""
    maps = average_over_inits(bias_maps, MEAN_ERROR)
    grids = maps.set_index([MODEL, VARIABLE, LEAD_DAYS, "lat", "lon"])[MEAN_ERROR].to_xarray()
    out = xr.Dataset({"mean_error": spatial_mean(grids), "mean_absolute_error_of_mean": spatial_mean(abs(grids))})
    return out.to_dataframe().dropna().reset_index()


def spectra_ratios(spectra: pd.DataFrame, model: str, reference: str) -> pd.DataFrame:
    """min and max over wavenumbers 1..MAX_RATIO_WAVENUMBER of power(model) / power(reference),
    per variable and lead (issue 13: within 0.8–1.25), from the verification's power ratios."""
    ratios = power_ratio_table(spectra, reference, [model]).dropna(subset=[POWER_RATIO])
    ratio = ratios.set_index([VARIABLE, LEAD_DAYS, WAVENUMBER])[POWER_RATIO].groupby(level=[VARIABLE, LEAD_DAYS])
    return pd.DataFrame({"model": model, "reference": reference, "min_ratio": ratio.min(),
                         "max_ratio": ratio.max(), "worst_wavenumber": ratio.apply(
                             lambda r: int(np.abs(np.log(r)).idxmax()[-1]))}).reset_index()


def _emulators(models, members: int) -> list[str]:
    """The GEE ensembles of N = `members` among the scored models ("gee-<generator>-N")."""
    return [m for m in models if str(m).startswith("gee") and str(m).endswith(f"-{members}")]


def target_table(table: pd.DataFrame, members: int) -> pd.DataFrame:
    """The targets per emulator and lead, each averaged over variables (issue 14): GEE-N fair CRPS
    / the ideal emulation's (≤ 1.01), GEE-N standard CRPS / the seeds' standard CRPS (SEEDS's
    claim, ≤ 0.90), GEE-N spread/skill (0.9–1.1) and rank-histogram max-bin share over uniform
    (≤ 1.5); for reference GEE-N fair CRPS / physics-31's and over the seeds', and GPP fair CRPS /
    physics-31 where GPP was run. The same CRPS ratio and spread/skill of the ideal emulation of
    the seeds (`IDEAL`) show the bound: no emulator of the seeds beats it."""
    wide = table.pivot_table(index=[VARIABLE, LEAD_DAYS], columns=MODEL, observed=True,
                             values=["crps", "crps_standard", "spread_skill", "max_bin_ratio"])
    physics = next(m for m in wide["crps"].columns if m.startswith("physics"))
    rows = []
    for gee in _emulators(wide["crps"].columns, members):
        for lead, at_lead in wide.groupby(level=LEAD_DAYS):
            crps = at_lead["crps"]
            row = {MODEL: gee, LEAD_DAYS: lead,
                   "crps_over_physics": float((crps[gee] / crps[physics]).mean()),
                   "crps_over_seeds": float((crps[gee] / crps[SEEDS]).mean()),
                   "standard_crps_over_seeds": float((at_lead["crps_standard"][gee]
                                                      / at_lead["crps_standard"][SEEDS]).mean()),
                   "crps_over_ideal": float((crps[gee] / crps[IDEAL]).mean()),
                   "spread_skill": float(at_lead["spread_skill"][gee].mean()),
                   "max_bin_ratio": float(at_lead["max_bin_ratio"][gee].mean()),
                   "ideal_crps_over_physics": float((crps[IDEAL] / crps[physics]).mean()),
                   "ideal_spread_skill": float(at_lead["spread_skill"][IDEAL].mean())}
            for model in crps.columns:
                if model.startswith("gpp"):
                    row[f"{model}_crps_over_physics"] = float((crps[model] / crps[physics]).mean())
            rows.append(row)
    out = pd.DataFrame(rows)
    out["meets_targets"] = ((out["standard_crps_over_seeds"] <= 0.90) & (out["crps_over_ideal"] <= 1.01)
                            & out["spread_skill"].between(0.9, 1.1) & (out["max_bin_ratio"] <= 1.5))
    return out


def generator_choice(scores: dict[str, pd.DataFrame], nfe: dict[str, int], members: int) -> pd.DataFrame:
    """The default generator by the written rule (`targets.choose_generator`: most realism
    targets met, then within 1 % of the best perfect-model fair CRPS over ideal-2's, then fewest
    network evaluations per member, then the largest share of realism values within bounds), per
    GEE generator of N members; the fair CRPS against the
    truth over the physics ensemble's is shown beside it, not used (a biased, under-dispersive
    truth rewards added spread). `chosen` marks the choice."""
    table = scores["per variable and lead"]
    wide = table.pivot_table(index=[VARIABLE, LEAD_DAYS], columns=MODEL, values="crps", observed=True)
    physics = next(m for m in wide.columns if m.startswith("physics"))
    card = scores["realism targets (against the physics members)"]
    perfect = perfect_model_by_lead(scores["perfect model (each non-seed physics member as the truth)"])
    rows = []
    for gee in _emulators(wide.columns, members):
        rows.append({MODEL: gee, "generator": gee.rsplit("-", 1)[0], "nfe": nfe[gee.rsplit("-", 1)[0]],
                     "targets_met": int(card.loc[card[MODEL] == gee, "met"].sum()),
                     "realism_share": realism_share(card, gee),
                     "perfect_model_crps": float(perfect.loc[perfect[MODEL] == gee, FAIR_OVER_IDEAL].mean()),
                     "crps_over_physics": float((wide[gee] / wide[physics]).mean())})
    out = pd.DataFrame(rows)
    chosen = choose_generator(out)
    return out.assign(chosen=out[MODEL] == chosen[MODEL])


def extremes_target_table(tables: dict[str, pd.DataFrame], members: int) -> pd.DataFrame:
    """Issue 4 and 14's targets per lead (each averaged over variables) for GEE-N and every GPP:
    CRPS / physics CRPS (GPP < 1 from day 3), area-mean |bias| / physics' (GPP ≤ 0.5 at the
    longest lead), Brier score of the 1% and 99% events / physics' (GPP < 1 from day 3, GEE ≤
    1.05) and spread/skill (GPP 0.95–1.05); the same for the oracle post-processing of the seeds
    (`ORACLE`): where it misses a target, a post-processor of the seeds cannot be expected to meet it."""
    scores, extremes, bias = tables["per variable and lead"], tables["extremes"], tables["bias"]
    physics = next(m for m in scores[MODEL].unique() if str(m).startswith("physics"))
    models = [m for m in scores[MODEL].unique() if str(m).startswith(("gpp", "oracle"))] + _emulators(
        scores[MODEL].unique(), members)

    def ratio(table: pd.DataFrame, value: str, model: str, keys: list[str]) -> pd.Series:
        wide = table.pivot_table(index=keys, columns=MODEL, values=value, observed=True)
        return (wide[model] / wide[physics]).groupby(level=LEAD_DAYS).mean()

    rows = []
    for model in models:
        per_lead = pd.DataFrame({
            "crps_over_physics": ratio(scores, "crps", model, [VARIABLE, LEAD_DAYS]),
            "abs_bias_over_physics": ratio(bias, "mean_absolute_error_of_mean", model, [VARIABLE, LEAD_DAYS]),
            **{f"brier_q{q:g}_over_physics": ratio(extremes[np.isclose(extremes["quantile"], q)], "brier", model,
                                                    [VARIABLE, LEAD_DAYS]) for q in (0.01, 0.99)},
            "spread_skill": scores[scores[MODEL] == model].groupby(LEAD_DAYS)["spread_skill"].mean(),
        })
        rows.append(per_lead.reset_index().assign(model=model))
    return pd.concat(rows, ignore_index=True)[[MODEL, LEAD_DAYS, "crps_over_physics", "abs_bias_over_physics",
                                                "brier_q0.01_over_physics", "brier_q0.99_over_physics",
                                                "spread_skill"]]
