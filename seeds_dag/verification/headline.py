"""The headline a user reads first: one table by lead of the three ratios that say whether the
emulation works, and one line of the realism scorecard; the whole summary says the rest.

- the paper's claim, standard CRPS of each emulated ensemble over the seeds' (what a user who has
  only the seeds gains; target <= 0.90);
- fair CRPS over the physics ensemble's (below 1: more skilful than the physics ensemble's
  distribution against the truth; the post-processor's aim);
- perfect-model fair CRPS over ideal-K's (each non-seed physics member plays the truth; how close
  the emulation is to the best any emulator of the seeds can do; target <= 1.02).

Every number is one the summary prints in its own block (the same tables, means over
variables of per-variable ratios); the headline only puts them side by side.
"""

from __future__ import annotations

import pandas as pd

from seeds_dag.verification.claims import CLAIM_TARGET, FAIR_OVER_PHYSICS, STANDARD_OVER_SEEDS
from seeds_dag.verification.perfect_model_summary import FAIR_OVER_IDEAL, PERFECT_MODEL_TARGET
from seeds_dag.verification.scores_table import LEAD_DAYS, MODEL
from seeds_dag.verification.targets import realism_share


CLAIM, OVER_PHYSICS, PERFECT = "claim", "vs physics", "perfect model"


def legend(seeds: str, physics: str, ideal: str | None) -> list[str]:
    """What each column of `headline_table` is (the perfect model's where `ideal` is named)."""
    lines = [f"  {CLAIM:<14} standard CRPS / {seeds}'s (the paper's comparison; target <= {CLAIM_TARGET:.2f})",
             f"  {OVER_PHYSICS:<14} fair CRPS / {physics}'s (below 1: more skilful than the physics ensemble)"]
    if ideal is not None:
        lines.append(f"  {PERFECT:<14} each non-seed physics member as the truth: fair CRPS / {ideal}'s "
                     f"(target <= {PERFECT_MODEL_TARGET:.2f})")
    return lines


def headline_table(claim: pd.DataFrame, perfect_by_lead: pd.DataFrame | None) -> pd.DataFrame:
    """Index lead (days), columns (measure, model): the claim's two ratios of each emulated model
    (`claims.crps_claim`) and, where scored, its perfect-model fair CRPS over ideal-K's
    (`perfect_model_summary.perfect_model_by_lead`; rows without that ratio, ideal-K and the
    seeds, are left out)."""
    measures = {CLAIM: claim.pivot(index=LEAD_DAYS, columns=MODEL, values=STANDARD_OVER_SEEDS),
                OVER_PHYSICS: claim.pivot(index=LEAD_DAYS, columns=MODEL, values=FAIR_OVER_PHYSICS)}
    if perfect_by_lead is not None:
        scored = perfect_by_lead.dropna(subset=[FAIR_OVER_IDEAL])
        measures[PERFECT] = scored.pivot(index=LEAD_DAYS, columns=MODEL, values=FAIR_OVER_IDEAL)
    models = list(dict.fromkeys(claim[MODEL]))
    table = pd.concat({name: frame[[m for m in models if m in frame]] for name, frame in measures.items()},
                      axis=1)
    table.index = pd.Index([f"{lead:g}" for lead in table.index], name="lead (days)")
    return table


def realism_line(scorecard: pd.DataFrame) -> str:
    """'Realism targets met …: gee-32 1 of 5 (64 % of values within bounds), …' from
    `targets.realism_scorecard` (the share: `targets.realism_share`)."""
    counts = scorecard.groupby(MODEL, sort=False)["met"].agg(["sum", "size"])
    return "Realism targets met (members against the physics members): " + ", ".join(
        f"{model} {int(row['sum'])} of {int(row['size'])} ({realism_share(scorecard, model):.0%} of values "
        "within bounds)" for model, row in counts.iterrows())


def format_headline(claim: pd.DataFrame, perfect_by_lead: pd.DataFrame | None, scorecard: pd.DataFrame,
                    n_inits: int, seeds: str, physics: str, ideal: str | None) -> str:
    """The headline's text: a heading and legend, the table, the realism line. `ideal`: ideal-K's
    name where the perfect-model scores are in `perfect_by_lead` (else None for both)."""
    table = headline_table(claim, perfect_by_lead)
    heading = f"Headline: {n_inits} inits pooled; each number a mean over variables of per-variable ratios"
    return "\n".join([heading, *legend(seeds, physics, ideal),
                      table.to_string(float_format=lambda v: f"{v:.3f}"), realism_line(scorecard)])
