"""Figures of multivariate realism as PNG bytes, from the pooled tables of
`seeds_dag.verification.multivariate_table`: the energy score over the variables by lead, and the
cross-variable correlation of member deviations by lead, per pair of variables.

Like `seeds_dag.report.figures`, each takes a long table and returns one PNG about 1000 px wide;
a table lacking the columns it needs raises `ValueError` naming the figure.
"""

from __future__ import annotations

import pandas as pd

from seeds_dag.conventions import KNOWN_VARIABLES
from seeds_dag.report.panels import checked_rows, model_colours, panel_grid, with_legend
from seeds_dag.verification.multivariate import CORRELATION, FIRST_VARIABLE, SECOND_VARIABLE
from seeds_dag.verification.multivariate_table import ENERGY_SCORES
from seeds_dag.verification.scores_table import LEAD_DAYS, MODEL

# Panel title per estimator column of the energy-score table.
ESTIMATOR_TITLES = {"energy_score": "fair estimator", "energy_score_standard": "standard estimator"}
REQUIRED = {
    "energy_score_by_lead": {MODEL, LEAD_DAYS, *ENERGY_SCORES},
    "variable_correlation_by_lead": {MODEL, FIRST_VARIABLE, SECOND_VARIABLE, LEAD_DAYS,
                                     CORRELATION},
}


def _conventions_order(pair: tuple[str, str]) -> tuple[int, int]:
    """Sort key of a pair of variables: the conventions' order (z500 first), unknown ones last."""
    known = list(KNOWN_VARIABLES)
    return tuple(known.index(v) if v in known else len(known) for v in pair)


def energy_score_by_lead(energy: pd.DataFrame) -> bytes:
    """The energy score over the variables (each in units of its climatological std) against
    lead time, a line per model, a panel per estimator: fair (the ensembles' distributions
    compared whatever their sizes) and standard (what a user of these N members pays)."""
    table = checked_rows(energy, "energy_score_by_lead", REQUIRED["energy_score_by_lead"])
    colours = model_colours(table[MODEL])
    fig, axes, spare = panel_grid(len(ENERGY_SCORES), "Energy score over the variables by lead "
                                  "time (lower is better)", legend_cell=True)
    panels = list(zip(axes, ENERGY_SCORES))
    for ax, column in panels:
        for model, line in table.groupby(MODEL, sort=False):
            line = line.sort_values(LEAD_DAYS)
            ax.plot(line[LEAD_DAYS], line[column], marker="o", color=colours[model], label=model)
        ax.set_title(ESTIMATOR_TITLES[column])
        ax.set_xlabel("lead time (days)")
        ax.set_ylabel("energy score (climatological std)")
        ax.grid(alpha=0.3)
    return with_legend(fig, panels, spare)


def variable_correlation_by_lead(correlation: pd.DataFrame) -> bytes:
    """Correlation between two variables of the members' deviations from their ensemble mean at
    the same point, against lead time, a line per model, a panel per pair of variables (in the
    conventions' order of the variables); an emulator that keeps the physics members' relations lies on the physics
    line, and 0 (dotted) is variables drawn independently."""
    table = checked_rows(correlation, "variable_correlation_by_lead",
                         REQUIRED["variable_correlation_by_lead"])
    pairs = sorted(dict.fromkeys(zip(table[FIRST_VARIABLE], table[SECOND_VARIABLE])),
                   key=_conventions_order)
    colours = model_colours(table[MODEL])
    fig, axes, spare = panel_grid(len(pairs), "Cross-variable correlation of member deviations",
                                  legend_cell=True)
    panels = []
    for ax, (first, second) in zip(axes, pairs):
        rows = table[(table[FIRST_VARIABLE] == first) & (table[SECOND_VARIABLE] == second)]
        ax.axhline(0.0, color="0.3", linestyle=":", linewidth=1)
        for model, line in rows.groupby(MODEL, sort=False):
            line = line.sort_values(LEAD_DAYS)
            ax.plot(line[LEAD_DAYS], line[CORRELATION], marker="o", color=colours[model],
                    label=model)
        ax.set_title(f"{first} – {second}")
        ax.set_xlabel("lead time (days)")
        ax.set_ylabel("correlation")
        ax.grid(alpha=0.3)
        panels.append((ax, rows))
    return with_legend(fig, panels, spare)
