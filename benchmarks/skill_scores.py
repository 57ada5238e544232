"""Scoring for the skill benchmark: every ensemble on every held-out init, pooled over inits."""

from __future__ import annotations

import pandas as pd
import xarray as xr

from seeds_dag.conventions import VARIABLES
from seeds_dag.store import ArtifactStore
from seeds_dag.verification.table import (
    LEAD_DAYS,
    MODEL,
    VARIABLE,
    rank_flatness_table,
    rank_table,
    score_table,
    summary_table,
)

SEEDS = "seeds-2"


def init_ensembles(store: ArtifactStore, key: str, physics: xr.Dataset, names: dict[str, str],
                   members: int, gpp_members: int) -> dict[str, xr.Dataset]:
    """model name -> forecast of one init: the seeds, the physics ensemble, GEE-31 (the first 31
    emulated members), GEE-N and each GPP."""
    physics = physics[list(VARIABLES)]
    gee = store.load_dataset(names["gee"], key)[list(VARIABLES)]
    ensembles = {SEEDS: physics.isel(member=slice(0, 2)), f"physics-{physics.sizes['member']}": physics}
    if members > physics.sizes["member"]:
        ensembles[f"gee-{physics.sizes['member']}"] = gee.isel(member=slice(0, physics.sizes["member"]))
    ensembles[f"gee-{members}"] = gee
    for model, stored in names.items():
        if model != "gee":
            ensembles[f"{model}-{gpp_members}"] = store.load_dataset(stored, key)[list(VARIABLES)]
    return ensembles


def score_ensembles(store: ArtifactStore, operational: dict[str, xr.Dataset], truth_aligned: dict[str, xr.Dataset],
                    names: dict[str, str], members: int, gpp_members: int) -> dict[str, pd.DataFrame]:
    """Scores pooled over every init, one init in memory at a time: a table per (model, variable,
    lead) of CRPS, RMSE, spread, spread/skill and rank-histogram flatness."""
    scores, ranks = [], []
    for key, physics in operational.items():
        ensembles = init_ensembles(store, key, physics, names, members, gpp_members)
        scores.append(score_table(ensembles, truth_aligned[key]))
        ranks.append(rank_table(ensembles, truth_aligned[key]))
    summary = summary_table(pd.concat(scores, ignore_index=True)).stack(MODEL, future_stack=True).reset_index()
    flatness = rank_flatness_table(pd.concat(ranks, ignore_index=True))
    table = summary.merge(flatness, on=[MODEL, VARIABLE, LEAD_DAYS])
    order = list(dict.fromkeys(table[MODEL]))
    table = table.sort_values([VARIABLE, LEAD_DAYS], key=lambda c: c, kind="stable")
    table[MODEL] = pd.Categorical(table[MODEL], order)
    return {"per variable and lead": table.sort_values([VARIABLE, LEAD_DAYS, MODEL]).reset_index(drop=True)}


def target_table(table: pd.DataFrame, members: int) -> pd.DataFrame:
    """Issue 3's targets per lead, each averaged over variables: GEE-N CRPS / physics-31 CRPS
    (≤ 1.02) and / seeds-2 CRPS (≤ 0.90), GEE-N spread/skill (0.9–1.1) and rank-histogram max-bin
    share over uniform (≤ 1.5); GPP CRPS / physics-31 where GPP was run (issue 4: < 1)."""
    wide = table.pivot_table(index=[VARIABLE, LEAD_DAYS], columns=MODEL, observed=True,
                             values=["crps", "spread_skill", "max_bin_ratio"])
    gee = f"gee-{members}"
    physics = next(m for m in wide["crps"].columns if m.startswith("physics"))
    rows = []
    for lead, at_lead in wide.groupby(level=LEAD_DAYS):
        crps = at_lead["crps"]
        row = {LEAD_DAYS: lead,
               "gee_crps_over_physics": float((crps[gee] / crps[physics]).mean()),
               "gee_crps_over_seeds": float((crps[gee] / crps[SEEDS]).mean()),
               "gee_spread_skill": float(at_lead["spread_skill"][gee].mean()),
               "gee_max_bin_ratio": float(at_lead["max_bin_ratio"][gee].mean())}
        for model in crps.columns:
            if model.startswith("gpp"):
                row[f"{model}_crps_over_physics"] = float((crps[model] / crps[physics]).mean())
        rows.append(row)
    out = pd.DataFrame(rows)
    out["meets_targets"] = ((out["gee_crps_over_physics"] <= 1.02) & (out["gee_crps_over_seeds"] <= 0.90)
                            & out["gee_spread_skill"].between(0.9, 1.1) & (out["gee_max_bin_ratio"] <= 1.5))
    return out
