"""The calibration figure as PNG bytes, from the pooled table of
`seeds_dag.verification.calibration.calibration_summary`: each emulated ensemble's variance about
the seeds' mean over the physics members', by lead and zonal wavenumber band, with the target.

Like `seeds_dag.report.figures`, it takes a long table and returns one PNG about 1000 px wide; a
table lacking the columns it needs raises `ValueError` naming the figure.
"""

from __future__ import annotations

import pandas as pd

from seeds_dag.report.panels import checked_rows, panel_grid, with_legend
from seeds_dag.verification.calibration import BAND, TOTAL, VARIANCE_RATIO_RANGE, WAVENUMBER_BANDS
from seeds_dag.verification.scores_table import LEAD_DAYS, MODEL, VARIABLE

REQUIRED = {MODEL, VARIABLE, LEAD_DAYS, BAND, "variance_ratio"}
BAND_STYLES = {"0-3": "C0", "4-7": "C2", "8-15": "C1", "16+": "C3", TOTAL: "k"}


def variance_ratio_by_band(summary: pd.DataFrame) -> bytes:
    """A panel per emulated model: the variance ratio (mean over variables, log scale) against
    lead time, a line per wavenumber band and one for all scales (thick), the target range shaded.
    Grid-point noise shows as the 16+ line far above 1, blurring as the 8-15 line below it."""
    table = checked_rows(summary, "variance_ratio_by_band", REQUIRED)
    means = table.groupby([MODEL, LEAD_DAYS, BAND], sort=False)["variance_ratio"].mean().reset_index()
    models = list(dict.fromkeys(means[MODEL]))
    fig, axes, spare = panel_grid(len(models), "Variance of members about the seeds' mean / the physics "
                                  "members', by zonal wavenumber band", legend_cell=True)
    drawn = []
    low, high = VARIANCE_RATIO_RANGE
    for ax, model in zip(axes, models):
        ax.axhspan(low, high, color="0.85", label=f"target {low:g}-{high:g}")
        for band in [*WAVENUMBER_BANDS, TOTAL]:
            line = means[(means[MODEL] == model) & (means[BAND] == band)].sort_values(LEAD_DAYS)
            ax.plot(line[LEAD_DAYS], line["variance_ratio"], marker="o", color=BAND_STYLES[band],
                    linewidth=2.5 if band == TOTAL else 1.2,
                    label="all scales" if band == TOTAL else f"wavenumbers {band}")
        ax.set_yscale("log")
        ax.set_title(model)
        ax.set_xlabel("lead time (days)")
        ax.set_ylabel("variance / physics")
        ax.grid(alpha=0.3, which="both")
        drawn.append((ax, means[means[MODEL] == model]))
    return with_legend(fig, drawn, spare)
