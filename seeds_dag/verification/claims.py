"""The paper's claim, from the summary: do the emulated members improve on the seeds they are
generated from?

SEEDS (Li et al. 2024) hands a user the K seeds or N emulated members; what each pays is the
standard CRPS of those members' empirical distribution (see
:func:`~seeds_dag.verification.scores.standard_crps`), so the claim is the ratio

    standard CRPS(emulated, N members) / standard CRPS(seeds, K members)   <= CLAIM_TARGET.

Beside it, the fair CRPS of the emulated ensemble over the physics ensemble's says how close the
emulated distribution comes to the physics one whatever the sizes (1: as skilful).

Each ratio is taken per variable (the variables' CRPS have different units, so a mean of CRPS
would be the largest variable's), then averaged over variables at each lead.
"""

from collections.abc import Sequence

import pandas as pd

from seeds_dag.verification.scores_table import LEAD_DAYS, MODEL, model_columns_text

# Issue 14's target for the emulated ensemble over its seeds, as in SEEDS.
CLAIM_TARGET = 0.90
STANDARD_OVER_SEEDS = "standard_crps_over_seeds"
FAIR_OVER_PHYSICS = "fair_crps_over_physics"


def crps_claim(summary: pd.DataFrame, seeds: str, physics: str,
               emulated: Sequence[str]) -> pd.DataFrame:
    """Per lead and emulated model, the mean over variables of its standard CRPS over the seeds'
    and of its fair CRPS over the physics ensemble's.

    Args:
        summary: from :func:`~seeds_dag.verification.scores_table.summary_table`: index (variable,
            lead_time_days), columns (metric, model) with metrics crps and crps_standard.
        seeds, physics: the model names of the seeds ("seeds-2") and of the physics ensemble.
        emulated: the emulated models' names, in the order the table lists them.

    Returns:
        columns lead_time_days, model, STANDARD_OVER_SEEDS, FAIR_OVER_PHYSICS; leads sorted.
    """
    emulated = list(emulated)
    ratios = {
        STANDARD_OVER_SEEDS: summary["crps_standard"][emulated].div(
            summary["crps_standard"][seeds], axis=0),
        FAIR_OVER_PHYSICS: summary["crps"][emulated].div(summary["crps"][physics], axis=0),
    }
    per_lead = {name: ratio.groupby(level=LEAD_DAYS).mean().stack(future_stack=True)
                for name, ratio in ratios.items()}
    return pd.DataFrame(per_lead).rename_axis([LEAD_DAYS, MODEL]).reset_index()


def format_claim(claim: pd.DataFrame, seeds: str, physics: str) -> str:
    """Fixed-width text of :func:`crps_claim`, a column per emulated model, with its headings."""
    return (
        f"The paper's claim: standard CRPS of each emulated ensemble / standard CRPS of {seeds} "
        f"(the seeds as a user has them), mean over variables of the per-variable ratio; "
        f"target <= {CLAIM_TARGET:.2f}\n"
        + model_columns_text(claim, [LEAD_DAYS], STANDARD_OVER_SEEDS)
        + f"\n\nFair CRPS of each emulated ensemble / fair CRPS of {physics}, mean over "
        "variables (1: as skilful as the physics ensemble's distribution)\n"
        + model_columns_text(claim, [LEAD_DAYS], FAIR_OVER_PHYSICS))
