"""Verification: per-init scores of the seeds, the physics ensemble and the emulated ensemble
against truth, and the summary over every scored init."""


import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.ensembles import daily_emulated_ensembles
from assets.partitions import init_dates
from assets.sources import operational_ensemble, truth
from resources import StorageResource
from seeds_dag.conventions import VARIABLES
from seeds_dag.verification.scores import align_truth
from seeds_dag.verification.table import (
    format_summary,
    rank_flatness_table,
    rank_table,
    score_table,
    summary_table,
)

SCORES = "verification_scores"
SEED_COUNT = 2


@asset(group_name="verification", partitions_def=init_dates,
       deps=[daily_emulated_ensembles, operational_ensemble, truth],
       description="Fair CRPS, ensemble-mean RMSE, spread, spread/skill and rank histograms of "
       "seeds-2, physics-31 and emulated-N for one init, cos(lat)-weighted, against truth.")
def verification_scores(context: AssetExecutionContext, storage: StorageResource) -> MaterializeResult:
    store = storage.store()
    key = context.partition_key
    variables = list(VARIABLES)
    physics = store.load_dataset("operational_ensemble", key)[variables]
    emulated = store.load_dataset("daily_emulated_ensembles", key)[variables]
    truth_ds = store.open_dataset("truth")[variables]
    observed = align_truth(truth_ds, physics["init_time"].values, physics["lead_time"].values).load()
    ensembles = {
        f"seeds-{SEED_COUNT}": physics.isel(member=slice(0, SEED_COUNT)),
        f"physics-{physics.sizes['member']}": physics,
        f"emulated-{emulated.sizes['member']}": emulated,
    }
    scores = score_table(ensembles, observed)
    ranks = rank_table(ensembles, observed)
    store.write_table(scores, SCORES, key)
    store.write_table(ranks, SCORES, key, name="rank_histograms.parquet")
    crps = scores.pivot_table(index=["variable", "lead_time_days"], columns="model", values="crps")
    return MaterializeResult(metadata={
        "location": store.location(SCORES, key),
        "crps": MetadataValue.md(crps.to_markdown(floatfmt=".4g")),
        "rows": len(scores),
    })


@asset(group_name="verification", deps=[verification_scores],
       description="Scores of every verified init pooled into one summary table per variable "
       "and lead, with rank-histogram flatness; the main job prints it.")
def verification_summary(context: AssetExecutionContext, storage: StorageResource) -> MaterializeResult:
    store = storage.store()
    keys = store.partitions(SCORES)
    if not keys:
        raise FileNotFoundError("verification_summary: no verification_scores partition is "
                                "materialised yet")
    scores = pd.concat([store.read_table(SCORES, k) for k in keys], ignore_index=True)
    ranks = pd.concat([store.read_table(SCORES, k, name="rank_histograms.parquet") for k in keys],
                      ignore_index=True)
    summary = summary_table(scores)
    flatness = rank_flatness_table(ranks)
    text = format_summary(summary)
    flat = flatness.pivot_table(index=["variable", "lead_time_days"], columns="model",
                                values="max_bin_ratio")
    text += "\n\nRank histogram max-bin share / uniform (1 = flat)\n" + flat.to_string(
        float_format=lambda v: f"{v:#.4g}")
    store.write_bytes("verification_summary", "summary.txt", text.encode())
    store.write_table(summary.stack("model", future_stack=True).reset_index(),
                      "verification_summary")
    context.log.info("\n" + text)
    return MaterializeResult(metadata={
        "location": store.location("verification_summary"),
        "inits": MetadataValue.json(keys),
        "summary": MetadataValue.md(f"```\n{text}\n```"),
    })
