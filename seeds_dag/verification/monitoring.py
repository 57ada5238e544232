"""Skill monitoring of one init's scores: the headline numbers an operational user watches day by
day (each emulated ensemble's fair CRPS over the physics ensemble's, its standard CRPS over the
seeds', its spread/skill) and the alarms raised when they leave their bounds."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from seeds_dag.verification.claims import FAIR_OVER_PHYSICS, STANDARD_OVER_SEEDS, crps_claim
from seeds_dag.verification.scores_table import LEAD_DAYS, MODEL, SCORES, VARIABLE, summary_table

SPREAD_SKILL = "spread_skill"


@dataclasses.dataclass(frozen=True)
class SkillBounds:
    """When an emulated ensemble's day is worth a warning. The defaults leave room for one
    init's sampling noise around what the skill benchmark measures (fair CRPS over physics
    0.86-1.20 by lead for GEE and GPP, spread/skill 1.0-1.3), so a warning means a real change:
    a bad model, a drifting source."""

    max_crps_over_physics: float = 1.3
    spread_skill_range: tuple[float, float] = (0.5, 2.0)

    def __post_init__(self) -> None:
        low, high = self.spread_skill_range
        if not (self.max_crps_over_physics > 0 and 0 <= low < high):
            raise ValueError(f"SkillBounds: need max_crps_over_physics > 0 and 0 <= low < high, got "
                             f"{self.max_crps_over_physics} and {self.spread_skill_range}")


def headline_scores(scores: pd.DataFrame, seeds: str, physics: str,
                    emulated: Sequence[str]) -> pd.DataFrame:
    """Per model (index): FAIR_OVER_PHYSICS and STANDARD_OVER_SEEDS of the emulated models (means
    over variables and leads of the per-variable ratios, as in the paper's claim) and every
    model's SPREAD_SKILL (mean over variables and leads), from one init's score table."""
    summary = summary_table(scores)
    claim = crps_claim(summary, seeds, physics, emulated)
    ratios = claim.groupby(MODEL)[[FAIR_OVER_PHYSICS, STANDARD_OVER_SEEDS]].mean()
    spread_skill = summary[SPREAD_SKILL].mean().rename(SPREAD_SKILL)
    return pd.concat([ratios, spread_skill], axis=1).loc[list(summary[SPREAD_SKILL].columns)]


def crps_alarms(headline: pd.DataFrame, emulated: Sequence[str], bounds: SkillBounds) -> list[str]:
    """The emulated models whose fair CRPS over the physics ensemble's exceeds the bound."""
    return [f"{model}: fair CRPS / physics {headline.at[model, FAIR_OVER_PHYSICS]:.3f} > "
            f"{bounds.max_crps_over_physics:g}" for model in emulated
            if not headline.at[model, FAIR_OVER_PHYSICS] <= bounds.max_crps_over_physics]


def spread_skill_alarms(headline: pd.DataFrame, emulated: Sequence[str], bounds: SkillBounds) -> list[str]:
    """The emulated models whose spread/skill lies outside the range."""
    low, high = bounds.spread_skill_range
    return [f"{model}: spread/skill {headline.at[model, SPREAD_SKILL]:.3f} outside [{low:g}, {high:g}]"
            for model in emulated if not low <= headline.at[model, SPREAD_SKILL] <= high]


def non_finite_scores(scores: pd.DataFrame) -> list[str]:
    """(model, variable, lead) of every score row with a NaN or infinite score."""
    values = scores[list(SCORES)].to_numpy(dtype=float)
    bad = scores.loc[~np.isfinite(values).all(axis=1)]
    return [f"{row[MODEL]} {row[VARIABLE]} day {row[LEAD_DAYS]:g}" for _, row in bad.iterrows()]
