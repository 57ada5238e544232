"""The verification summary: the scores of every init Dagster recorded as materialised, pooled
into one summary per variable and lead, its text (which the main job prints) and the pooled tables
the report draws."""

import json

import pandas as pd
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from assets.automation import follows_any_partition
from assets.metadata import table_metadata
from assets.object_names import (
    BIAS_MAPS,
    CALIBRATION,
    COHERENCE,
    CRPS_CLAIM,
    ENERGY_SCORE,
    EXTREMES,
    HEADLINE_TEXT,
    INITS_OBJECT,
    MERIDIONAL,
    MULTIVARIATE,
    PERFECT_MODEL,
    PERFECT_MODEL_RANKS,
    POWER_RATIO,
    RANK_HISTOGRAMS,
    REALISM,
    RELIABILITY,
    ROC,
    SPECTRA,
    SUMMARY_TEXT,
    VARIABLE_CORRELATION,
    VARIABLE_MOMENTS,
)
from assets.verification import SCORES, SUMMARY, verification_scores
from assets.versions import CODE_VERSIONS
from resources import StorageResource
from seeds_dag.conventions import VARIABLES
from seeds_dag.store import ArtifactStore, StoredObjects
from seeds_dag.store.objects import TABLE
from seeds_dag.verification.calibration import calibration_summary, format_calibration
from seeds_dag.verification.claims import crps_claim, format_claim
from seeds_dag.verification.coherence_table import coherence_columns, coherence_summary, format_coherence
from seeds_dag.verification.ensemble_names import IDEAL, SEEDS, physics_and_emulated, reference_model
from seeds_dag.verification.extremes_table import extremes_summary, format_extremes, reliability_diagram
from seeds_dag.verification.bias_table import MEAN_ERROR, format_mean_error, mean_error_summary
from seeds_dag.verification.spectra_table import (
    POWER,
    format_power_ratio,
    power_ratio_range,
    power_ratio_table,
)
from seeds_dag.verification.scores_table import average_over_inits
from seeds_dag.verification.headline import format_headline
from seeds_dag.verification.meridional_table import format_meridional, meridional_columns, meridional_summary
from seeds_dag.verification.multivariate import variable_correlation_summary
from seeds_dag.verification.multivariate_table import (
    correlation_rows,
    energy_score_summary,
    format_energy_score,
    format_variable_correlation,
)
from seeds_dag.verification.perfect_model_summary import (
    format_perfect_model,
    perfect_model_by_lead,
    perfect_model_summary,
)
from seeds_dag.verification.scores_table import (
    MODEL,
    format_summary,
    model_columns_text,
    rank_flatness_table,
    summary_table,
)
from seeds_dag.verification.targets import format_scorecard, realism_scorecard


def _inits_note(held: list[str], keys: list[str]) -> str:
    """The line ending a summary block whose table only some of the scored inits hold."""
    return f"\n(over the {len(held)} of {len(keys)} inits that hold it)" if len(held) < len(keys) else ""


def _absent_note(block: str, name: str) -> str:
    """The summary block standing for one whose table no scored init holds."""
    return (f"{block}: no {SCORES} partition holds {name} (scored by an older version); "
            f"rematerialise {SCORES} to add it")


def materialised_scores(context: AssetExecutionContext, store: ArtifactStore) -> list[str]:
    """The scores partitions Dagster recorded as materialised, sorted: what the summary pools.
    Tables in the store that Dagster does not record (a wiped partition, files from another
    instance) are left out with a warning; a recorded partition whose table is gone is an error
    naming it."""
    recorded = sorted(context.instance.get_materialized_partitions(AssetKey(SCORES)))
    if not recorded:
        raise FileNotFoundError(f"{SUMMARY}: no {SCORES} partition is materialised yet")
    lost = [k for k in recorded if not store.exists_bytes(SCORES, TABLE, k)]
    if lost:
        raise FileNotFoundError(f"{SUMMARY}: {SCORES} partitions {lost} are recorded as "
                                f"materialised but their tables are not in {store.root}; "
                                f"rematerialise them")
    unrecorded = sorted(set(store.partitions(SCORES)) - set(recorded))
    if unrecorded:
        context.log.warning(f"{SUMMARY}: leaving out {len(unrecorded)} {SCORES} partitions found "
                            f"in storage that Dagster has not recorded as materialised: "
                            f"{unrecorded[:10]}")
    return recorded


def pooled_inits(summary: StoredObjects) -> list[str]:
    """The scores partitions a stored summary (`store.objects(SUMMARY)`) pooled."""
    return json.loads(summary.read_bytes(INITS_OBJECT))


@asset(group_name="verification", deps=[verification_scores],
       code_version=CODE_VERSIONS[SUMMARY], automation_condition=follows_any_partition(),
       description="Scores of every verified init pooled into one summary per variable and "
       "lead: fair and standard CRPS, the paper's claim (standard CRPS of each emulated "
       "ensemble over the seeds', fair CRPS over the physics ensemble's), the perfect-model "
       "scores (fair and standard CRPS over ideal-K's, spread/skill and rank flatness against each "
       "non-seed physics member in turn), the realism scorecard against the physics members, "
       "the variance of members about the seeds by wavenumber band, RMSE, spread/skill, "
       "rank flatness, mean error, Brier skill and ROC area of the 1%/99% events, lead-to-lead "
       "coherence of members, the emulated members' zonal power relative to the physics "
       "members', the energy score over the variables and their cross-variable correlations; "
       "pooled tables for the report. The main job prints the text.")
def verification_summary(context: AssetExecutionContext, storage: StorageResource) -> MaterializeResult:
    store = storage.store()
    keys = materialised_scores(context, store)
    # Each init's tables from one commit of it, even if it is rescored while they are read.
    scored = {k: store.objects(SCORES, k) for k in keys}

    def read(name: str, partitions: list[str] = keys) -> pd.DataFrame:
        return pd.concat([scored[k].read_table(name) for k in partitions], ignore_index=True)

    def held(name: str) -> list[str]:
        return [k for k in keys if scored[k].exists(name)]

    summary = summary_table(read(TABLE))
    flatness = rank_flatness_table(read(RANK_HISTOGRAMS))
    extremes = extremes_summary(read(EXTREMES), read(ROC))
    bias_maps = read(BIAS_MAPS)
    spectra = average_over_inits(read(SPECTRA), POWER)
    physics, emulated = physics_and_emulated(spectra["model"])
    seeds = reference_model(spectra["model"], SEEDS)
    power_ratios = power_ratio_table(spectra, physics, emulated)
    power_ranges = power_ratio_range(power_ratios)
    claim = crps_claim(summary, seeds, physics, emulated)
    pooled, metadata = {}, {}
    # Partitions scored before a table existed (or, for coherence, with a single lead) lack it:
    # its block pools the inits that hold it and says so.
    perfect_scored = held(PERFECT_MODEL)
    if perfect_scored:
        perfect_scores = read(PERFECT_MODEL, perfect_scored)
        ideal = reference_model(perfect_scores[MODEL], IDEAL)
        pooled[PERFECT_MODEL] = perfect_model_summary(
            perfect_scores, read(PERFECT_MODEL_RANKS, perfect_scored), seeds, ideal)
        perfect_block = (format_perfect_model(pooled[PERFECT_MODEL], ideal)
                         + _inits_note(perfect_scored, keys))
        by_lead = perfect_model_by_lead(pooled[PERFECT_MODEL])
        metadata |= {"perfect_model": MetadataValue.md(by_lead.to_markdown(index=False,
                                                                          floatfmt=".4g")),
                     "perfect_model_table": table_metadata(by_lead)}
    else:
        perfect_block = _absent_note("Perfect model", PERFECT_MODEL)
        by_lead, ideal = None, None
    blocks = [
        format_summary(summary),
        format_claim(claim, seeds, physics),
        perfect_block,
        "Rank histogram max-bin share / uniform (1 = flat)\n"
        + model_columns_text(flatness, ["variable", "lead_time_days"], "max_bin_ratio"),
        format_mean_error(mean_error_summary(bias_maps)),
        format_extremes(extremes),
        format_power_ratio(power_ranges, physics),
    ]
    pooled |= {
        EXTREMES: extremes,
        RELIABILITY: reliability_diagram(read(RELIABILITY)),
        BIAS_MAPS: average_over_inits(bias_maps, MEAN_ERROR),
        SPECTRA: spectra,
        POWER_RATIO: power_ratios,
        CRPS_CLAIM: claim,
    }
    metadata |= {"crps_claim": MetadataValue.md(claim.to_markdown(index=False, floatfmt=".4g")),
                 "crps_claim_table": table_metadata(claim),
                 "power_ratio": MetadataValue.md(power_ranges.to_markdown(floatfmt=".4g")),
                 "power_ratio_table": table_metadata(power_ranges)}
    realism = {"power_ratios": power_ratios}
    calibrated = held(CALIBRATION)
    if calibrated:
        realism["calibration"] = pooled[CALIBRATION] = calibration_summary(read(CALIBRATION, calibrated), physics)
        blocks.append(format_calibration(pooled[CALIBRATION], physics) + _inits_note(calibrated, keys))
    else:
        blocks.append(_absent_note("Variance about the seeds", CALIBRATION))

    def pooled_pairs(name: str, summarise, columns, text, label: str) -> pd.DataFrame | None:
        """A coherence table (between leads or latitudes) pooled over the partitions that hold
        it, printed and in the metadata as `label`, beside physics'; None where none holds it."""
        partitions = held(name)
        if not partitions:
            return None
        pooled[name] = summarise(read(name, partitions))
        wide = columns(pooled[name], physics)
        blocks.append(text(wide) + _inits_note(partitions, keys))
        metadata.update({label: MetadataValue.md(wide.to_markdown(floatfmt=".4g")),
                         f"{label}_table": table_metadata(wide)})
        return wide

    # No partition holds the lead-to-lead table where every init has one lead: nothing to note.
    coherence = pooled_pairs(COHERENCE, coherence_summary, coherence_columns, format_coherence, "coherence")
    meridional = pooled_pairs(MERIDIONAL, meridional_summary, meridional_columns, format_meridional,
                              "latitude_coherence")
    if meridional is None:
        blocks.append(_absent_note("Latitude-to-latitude coherence", MERIDIONAL))
    realism |= {key: wide for key, wide in (("coherence", coherence), ("meridional", meridional))
                if wide is not None}
    energy_scored = held(MULTIVARIATE)
    if energy_scored:
        energy = energy_score_summary(read(MULTIVARIATE, energy_scored))
        pooled[ENERGY_SCORE] = energy
        blocks.append(format_energy_score(energy, list(VARIABLES))
                      + _inits_note(energy_scored, keys))
        metadata |= {"energy_score": MetadataValue.md(energy.to_markdown(index=False,
                                                                         floatfmt=".4g")),
                     "energy_score_table": table_metadata(energy)}
    else:
        blocks.append(_absent_note("Energy score", MULTIVARIATE))
    correlated = held(VARIABLE_MOMENTS)
    if correlated:
        moments = read(VARIABLE_MOMENTS, correlated)
        correlation = realism["variable_correlation"] = variable_correlation_summary(moments, physics)
        pooled[VARIABLE_CORRELATION] = correlation_rows(correlation,
                                                        list(dict.fromkeys(moments[MODEL])))
        blocks.append(format_variable_correlation(correlation) + _inits_note(correlated, keys))
        metadata |= {"variable_correlation": MetadataValue.md(correlation.to_markdown(
                         floatfmt=".3f")),
                     "variable_correlation_table": table_metadata(correlation)}
    else:
        blocks.append(_absent_note("Cross-variable correlation", VARIABLE_MOMENTS))
    # The scorecard reads the blocks' pooled tables; it is printed right after the claims.
    scorecard = realism_scorecard(emulated, physics, **realism)
    blocks.insert(3, format_scorecard(scorecard, physics))
    pooled[REALISM] = scorecard
    metadata |= {"realism": MetadataValue.md(scorecard.to_markdown(index=False, floatfmt=".3g")),
                 "realism_table": table_metadata(scorecard)}
    text = "\n\n".join(blocks)
    headline = format_headline(claim, by_lead, scorecard, len(keys), seeds, physics, ideal)
    pooled_scores = summary.stack("model", future_stack=True).reset_index()
    # One commit: the report never draws the new tables beside the old inits, or the reverse.
    with store.objects_writer(SUMMARY) as written:
        written.write_bytes(SUMMARY_TEXT, text.encode())
        written.write_bytes(HEADLINE_TEXT, headline.encode())
        written.write_bytes(INITS_OBJECT, json.dumps(keys).encode())
        written.write_table(pooled_scores)
        for name, table in pooled.items():
            written.write_table(table, name)
    # One line: the text is in the metadata and summary.txt (the main job prints it once, at the end).
    context.log.info(f"{SUMMARY}: {len(keys)} inits pooled, {len(text.splitlines())} lines of "
                     f"summary at {store.location(SUMMARY)}/{SUMMARY_TEXT}")
    return MaterializeResult(metadata={
        "location": store.location(SUMMARY),
        "inits": MetadataValue.json(keys),
        "headline": MetadataValue.md(f"```\n{headline}\n```"),
        "summary": MetadataValue.md(f"```\n{text}\n```"),
        "scores": table_metadata(pooled_scores),
        **metadata,
    })
