"""Verification: per-init scores of the seeds, the physics ensemble and the emulated ensembles
against truth, and the summary over every scored init."""


import pandas as pd
import xarray as xr
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.ensembles import daily_emulated_ensembles
from assets.metadata import table_metadata
from assets.partitions import init_dates
from assets.sources import operational_ensemble, truth
from resources import SourceResource, StorageResource
from seeds_dag.conventions import VARIABLES
from seeds_dag.emulation import MODEL_DIM
from seeds_dag.verification.claims import crps_claim, format_claim
from seeds_dag.verification.coherence_table import (
    coherence_columns,
    coherence_summary,
    coherence_table,
    format_coherence,
)
from seeds_dag.verification.extremes import climatological_thresholds
from seeds_dag.verification.extremes_table import (
    extremes_summary,
    extremes_tables,
    format_extremes,
    reliability_diagram,
)
from seeds_dag.verification.field_table import (
    MEAN_ERROR,
    POWER,
    TRUTH,
    average_over_inits,
    bias_map_table,
    format_mean_error,
    format_power_ratio,
    mean_error_summary,
    power_ratio_range,
    power_ratio_table,
    spectrum_table,
)
from seeds_dag.verification.multivariate import (
    climatological_scale,
    variable_correlation_summary,
    variable_correlation_table,
)
from seeds_dag.verification.multivariate_table import (
    correlation_rows,
    energy_score_summary,
    energy_score_table,
    format_energy_score,
    format_variable_correlation,
)
from seeds_dag.verification.scores import TIME, align_truth
from seeds_dag.verification.table import (
    MODEL,
    format_summary,
    model_columns_text,
    rank_flatness_table,
    rank_table,
    score_table,
    summary_table,
)

SCORES = "verification_scores"
SUMMARY = "verification_summary"
COHERENCE = "coherence.parquet"
# Per-init tables of the multivariate scores, and the pooled tables the report draws.
MULTIVARIATE, VARIABLE_MOMENTS = "multivariate.parquet", "variable_moments.parquet"
ENERGY_SCORE, VARIABLE_CORRELATION = "energy_score.parquet", "variable_correlation.parquet"
CRPS_CLAIM = "crps_claim.parquet"
SEED_COUNT = 2
# The model-name families of the reference ensembles; every other verified model is emulated.
SEEDS, PHYSICS = "seeds", "physics"
# Below about 30 days per point the 1%/99% quantiles are little more than the sample extremes.
MIN_CLIMATOLOGY_DAYS = 30


def ensembles_to_verify(physics: xr.Dataset, emulated: xr.Dataset) -> dict[str, xr.Dataset]:
    """Model name -> ensemble (init_time, lead_time, member, lat, lon): the first SEED_COUNT
    physics members ("seeds-2"), the physics ensemble ("physics-31") and the emulated ones, named
    f"{model}-{N}" per value of a ``model`` dim ("gee-32", "gpp-32") or "emulated-{N}" for an
    artifact without that dim."""
    ensembles = {
        f"{SEEDS}-{SEED_COUNT}": physics.isel(member=slice(0, SEED_COUNT)),
        f"{PHYSICS}-{physics.sizes['member']}": physics,
    }
    n = emulated.sizes["member"]
    if MODEL_DIM not in emulated.dims:
        return {**ensembles, f"emulated-{n}": emulated}
    return {**ensembles, **{f"{model}-{n}": emulated.sel({MODEL_DIM: model}, drop=True)
                            for model in emulated[MODEL_DIM].values.astype(str)}}


def _families(models) -> dict[str, str]:
    """Model name -> its family, the name before the ensemble size ("physics-31" -> "physics")."""
    return {model: model.rsplit("-", 1)[0] for model in dict.fromkeys(models)}


def reference_model(models, family: str) -> str:
    """The one model of ``family`` (SEEDS or PHYSICS) among the model names of
    :func:`ensembles_to_verify`, e.g. "seeds-2"."""
    found = [model for model, name in _families(models).items() if name == family]
    if len(found) != 1:
        raise ValueError(f"expected one {family}-N model among {list(dict.fromkeys(models))}, "
                         f"got {found}")
    return found[0]


def physics_and_emulated(models) -> tuple[str, list[str]]:
    """The physics ensemble's name and the emulated ensembles' names, in order, among the model
    names of :func:`ensembles_to_verify` (and the spectra table's "truth")."""
    emulated = [model for model, name in _families(models).items()
                if name not in (SEEDS, PHYSICS, TRUTH)]
    return reference_model(models, PHYSICS), emulated


def training_truth(truth_ds: xr.Dataset, source: SourceResource,
                   context: AssetExecutionContext) -> xr.Dataset:
    """Truth at the valid times of the training reforecasts: reforecast_start to
    reforecast_end + the longest lead (the climate the models learnt), loaded."""
    end = pd.Timestamp(source.reforecast_end) + pd.Timedelta(days=max(source.lead_days))
    window = truth_ds.sel({TIME: slice(pd.Timestamp(source.reforecast_start), end)}).load()
    days = window.sizes[TIME]
    if days == 0:
        raise ValueError(f"truth has no fields in the training window {source.reforecast_start}"
                         f" .. {end:%Y-%m-%d} for the climatological thresholds (truth covers "
                         f"{truth_ds[TIME].values.min()} .. {truth_ds[TIME].values.max()})")
    if days < MIN_CLIMATOLOGY_DAYS:
        context.log.warning(f"climatological thresholds from only {days} days of truth "
                            f"({source.reforecast_start} .. {end:%Y-%m-%d}); the tail quantiles "
                            f"are close to the sample extremes")
    return window


@asset(group_name="verification", partitions_def=init_dates,
       deps=[daily_emulated_ensembles, operational_ensemble, truth],
       description="Fair and standard CRPS, ensemble-mean RMSE, spread, spread/skill, rank "
       "histograms, Brier/reliability/ROC of climatological extremes, bias maps, zonal spectra, "
       "lead-to-lead coherence of members, the energy score over the variables and the "
       "cross-variable moments of members of seeds-2, the physics ensemble and the emulated "
       "ensembles for one init, against truth.")
def verification_scores(context: AssetExecutionContext, storage: StorageResource,
                        source: SourceResource) -> MaterializeResult:
    store = storage.store()
    key = context.partition_key
    variables = list(VARIABLES)
    physics = store.load_dataset("operational_ensemble", key)[variables]
    emulated = store.load_dataset("daily_emulated_ensembles", key)[variables]
    truth_ds = store.open_dataset("truth")[variables]
    observed = align_truth(truth_ds, physics["init_time"].values, physics["lead_time"].values).load()
    climate = training_truth(truth_ds, source, context)
    ensembles = ensembles_to_verify(physics, emulated)
    reference, _ = physics_and_emulated(ensembles)
    scores = score_table(ensembles, observed)
    extremes = extremes_tables(ensembles, observed, climatological_thresholds(climate))
    scale = climatological_scale(climate)
    tables = {
        "table.parquet": scores,
        "rank_histograms.parquet": rank_table(ensembles, observed),
        "extremes.parquet": extremes.extremes,
        "reliability.parquet": extremes.reliability,
        "roc.parquet": extremes.roc,
        "bias_maps.parquet": bias_map_table(ensembles, observed),
        "spectra.parquet": spectrum_table(ensembles, observed),
        MULTIVARIATE: energy_score_table(ensembles, observed, scale),
        VARIABLE_MOMENTS: variable_correlation_table(ensembles),
    }
    coherence = {}
    if physics.sizes["lead_time"] >= 2:
        tables[COHERENCE] = coherence_table(ensembles)
        wide = coherence_columns(coherence_summary(tables[COHERENCE]), reference)
        coherence["coherence"] = MetadataValue.md(wide.to_markdown(floatfmt=".4g"))
    else:
        context.log.warning(f"{SCORES}[{key}]: one lead only, no lead-to-lead coherence")
    for name, table in tables.items():
        store.write_table(table, SCORES, key, name=name)
    crps = scores.pivot_table(index=["variable", "lead_time_days"], columns="model", values="crps")
    return MaterializeResult(metadata={
        "location": store.location(SCORES, key),
        "crps": MetadataValue.md(crps.to_markdown(floatfmt=".4g")),
        **coherence,
        "rows": len(scores),
        "models": MetadataValue.json(list(ensembles)),
        "climatology_days": climate.sizes[TIME],
        "energy_score_scale": MetadataValue.json(scale),
    })


def _inits_note(held: list[str], keys: list[str]) -> str:
    """The line ending a summary block whose table only some of the scored inits hold."""
    return f"\n(over the {len(held)} of {len(keys)} inits that hold it)" if len(held) < len(keys) else ""


def _absent_note(block: str, name: str) -> str:
    """The summary block standing for one whose table no scored init holds."""
    return (f"{block}: no {SCORES} partition holds {name} (scored by an older version); "
            f"rematerialise {SCORES} to add it")


@asset(group_name="verification", deps=[verification_scores],
       description="Scores of every verified init pooled into one summary per variable and "
       "lead: fair and standard CRPS, the paper's claim (standard CRPS of each emulated "
       "ensemble over the seeds', fair CRPS over the physics ensemble's), RMSE, spread/skill, "
       "rank flatness, mean error, Brier skill and ROC area of the 1%/99% events, lead-to-lead "
       "coherence of members, the emulated members' zonal power relative to the physics "
       "members', the energy score over the variables and their cross-variable correlations; "
       "pooled tables for the report. The main job prints the text.")
def verification_summary(context: AssetExecutionContext, storage: StorageResource) -> MaterializeResult:
    store = storage.store()
    keys = store.partitions(SCORES)
    if not keys:
        raise FileNotFoundError("verification_summary: no verification_scores partition is "
                                "materialised yet")

    def read(name: str, partitions: list[str] = keys) -> pd.DataFrame:
        return pd.concat([store.read_table(SCORES, k, name=name) for k in partitions],
                         ignore_index=True)

    def held(name: str) -> list[str]:
        return [k for k in keys if store.exists_bytes(SCORES, name, k)]

    summary = summary_table(read("table.parquet"))
    flatness = rank_flatness_table(read("rank_histograms.parquet"))
    extremes = extremes_summary(read("extremes.parquet"), read("roc.parquet"))
    bias_maps = read("bias_maps.parquet")
    spectra = average_over_inits(read("spectra.parquet"), POWER)
    physics, emulated = physics_and_emulated(spectra["model"])
    seeds = reference_model(spectra["model"], SEEDS)
    power_ratios = power_ratio_table(spectra, physics, emulated)
    power_ranges = power_ratio_range(power_ratios)
    claim = crps_claim(summary, seeds, physics, emulated)
    blocks = [
        format_summary(summary),
        format_claim(claim, seeds, physics),
        "Rank histogram max-bin share / uniform (1 = flat)\n"
        + model_columns_text(flatness, ["variable", "lead_time_days"], "max_bin_ratio"),
        format_mean_error(mean_error_summary(bias_maps)),
        format_extremes(extremes),
        format_power_ratio(power_ranges, physics),
    ]
    pooled = {
        "extremes.parquet": extremes,
        "reliability.parquet": reliability_diagram(read("reliability.parquet")),
        "bias_maps.parquet": average_over_inits(bias_maps, MEAN_ERROR),
        "spectra.parquet": spectra,
        "power_ratio.parquet": power_ratios,
        CRPS_CLAIM: claim,
    }
    metadata = {"crps_claim": MetadataValue.md(claim.to_markdown(index=False, floatfmt=".4g")),
                "crps_claim_table": table_metadata(claim),
                "power_ratio": MetadataValue.md(power_ranges.to_markdown(floatfmt=".4g")),
                "power_ratio_table": table_metadata(power_ranges)}
    # Partitions scored before a table existed (or, for coherence, with a single lead) lack it:
    # its block pools the inits that hold it and says so.
    coherent = held(COHERENCE)
    if coherent:
        pooled[COHERENCE] = coherence_summary(read(COHERENCE, coherent))
        coherence = coherence_columns(pooled[COHERENCE], physics)
        blocks.append(format_coherence(coherence) + _inits_note(coherent, keys))
        metadata |= {"coherence": MetadataValue.md(coherence.to_markdown(floatfmt=".4g")),
                     "coherence_table": table_metadata(coherence)}
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
        correlation = variable_correlation_summary(moments, physics)
        pooled[VARIABLE_CORRELATION] = correlation_rows(correlation,
                                                        list(dict.fromkeys(moments[MODEL])))
        blocks.append(format_variable_correlation(correlation) + _inits_note(correlated, keys))
        metadata |= {"variable_correlation": MetadataValue.md(correlation.to_markdown(
                         floatfmt=".3f")),
                     "variable_correlation_table": table_metadata(correlation)}
    else:
        blocks.append(_absent_note("Cross-variable correlation", VARIABLE_MOMENTS))
    text = "\n\n".join(blocks)
    store.write_bytes(SUMMARY, "summary.txt", text.encode())
    store.write_table(summary.stack("model", future_stack=True).reset_index(), SUMMARY)
    for name, table in pooled.items():
        store.write_table(table, SUMMARY, name=name)
    context.log.info("\n" + text)
    return MaterializeResult(metadata={
        "location": store.location(SUMMARY),
        "inits": MetadataValue.json(keys),
        "summary": MetadataValue.md(f"```\n{text}\n```"),
        **metadata,
    })
