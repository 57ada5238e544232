"""The perfect-model figure as PNG bytes, from the pooled table of
`seeds_dag.verification.perfect_model_summary`: each emulated ensemble's fair CRPS over ideal-K's
by lead, against a member of the physics ensemble as the truth, with the target.

Like `seeds_dag.report.figures`, it takes a long table and returns one PNG about 1000 px wide; a
table lacking the columns it needs raises `ValueError` naming the figure.
"""

from __future__ import annotations

import pandas as pd

from seeds_dag.report.panels import checked_rows, model_colours, panel_grid, variables_in, with_legend
from seeds_dag.verification.perfect_model_summary import (
    BY_LEAD,
    FAIR_OVER_IDEAL,
    PERFECT_MODEL_TARGET,
    perfect_model_by_lead,
)
from seeds_dag.verification.scores_table import LEAD_DAYS, MODEL, VARIABLE

REQUIRED = {MODEL, VARIABLE, LEAD_DAYS, *BY_LEAD}
MEAN_PANEL = "mean over variables"


def crps_over_ideal_by_lead(summary: pd.DataFrame) -> bytes:
    """Fair CRPS of each emulated ensemble over ideal-K's against lead time, a line per model:
    first the mean over variables (the figure of merit), then a panel per variable; the target
    (dashed) and 1, ideal-K itself (dotted). Rows without the ratio (ideal-K, the seeds) are not
    drawn."""
    table = checked_rows(summary, "crps_over_ideal_by_lead", REQUIRED)
    table = table.dropna(subset=[FAIR_OVER_IDEAL])
    if table.empty:
        raise ValueError(f"crps_over_ideal_by_lead: no model has a {FAIR_OVER_IDEAL}")
    colours = model_colours(table[MODEL])
    panels = [(MEAN_PANEL, perfect_model_by_lead(table))] + [
        (variable, table[table[VARIABLE] == variable]) for variable in variables_in(table)]
    fig, axes, spare = panel_grid(len(panels), "Perfect model: fair CRPS / ideal-K's fair CRPS "
                                  "(a physics member as the truth)", legend_cell=True)
    drawn = []
    for ax, (title, rows) in zip(axes, panels):
        ax.axhline(PERFECT_MODEL_TARGET, color="0.3", linestyle="--", linewidth=1,
                   label=f"target {PERFECT_MODEL_TARGET:g}")
        ax.axhline(1.0, color="0.3", linestyle=":", linewidth=1, label="ideal-K (1)")
        for model, line in rows.groupby(MODEL, sort=False):
            line = line.sort_values(LEAD_DAYS)
            ax.plot(line[LEAD_DAYS], line[FAIR_OVER_IDEAL], marker="o", color=colours[model],
                    label=model)
        ax.set_title(title)
        ax.set_xlabel("lead time (days)")
        ax.set_ylabel("fair CRPS / ideal-K's")
        ax.grid(alpha=0.3)
        drawn.append((ax, rows))
    return with_legend(fig, drawn, spare)
