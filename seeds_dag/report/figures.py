"""Verification figures as PNG bytes, drawn from the long score tables of `seeds_dag.verification`.

Every function takes a long pandas DataFrame (or, for example maps, xarray fields) and returns the
bytes of one PNG at `DPI`, about 1000-1250 px wide. Figures are built on `matplotlib.figure.Figure`
with the Agg canvas, never through pyplot, so nothing global is touched and no figure outlives the
call. A model absent from part of a table is simply absent from those panels; a table lacking the
columns or the lead asked for raises `ValueError` naming the figure and what is missing.

The panel grid, colours, units and table checks they share are in `seeds_dag.report.panels`;
the multivariate figures in `seeds_dag.report.multivariate_figures`.

Units come from `seeds_dag.conventions.KNOWN_VARIABLES` (CF strings such as "m2 s-2", drawn as
m² s⁻²); lead times are in days, quantiles are fractions (0.01 = the 1% quantile).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, NullFormatter

from seeds_dag.report.panels import (
    DPI,
    by_variable,
    checked_rows,
    model_colours,
    png_bytes,
    units_label,
    variable_units,
    variables_in,
    with_legend,
)
from seeds_dag.verification.spectra_table import POWER_RATIO_BAND

MAP_SIZE = (2.3, 1.35)  # inches per lat/lon map: 2:1 like the globe, plus room for titles
EXAMPLE_COLUMNS = 4
EXAMPLE_WIDTH = 10.0  # inches
REQUIRED = {
    "lead_time_scores": {"model", "variable", "lead_time_days"},
    "rank_histograms": {"model", "variable", "lead_time_days", "rank", "count"},
    "reliability_diagram": {"model", "variable", "lead_time_days", "quantile",
                            "mean_probability", "observed_frequency", "n_forecasts"},
    "bias_maps": {"model", "variable", "lead_time_days", "lat", "lon", "mean_error"},
    "zonal_spectra": {"model", "variable", "lead_time_days", "wavenumber", "power"},
    "power_ratio": {"model", "variable", "lead_time_days", "wavenumber", "power_ratio"},
    "coherence_by_lead_pair": {"model", "variable", "first_lead_days", "second_lead_days",
                               "coherence"},
}
# Power ratios labelled on the log axis: the target band's edges and round factors around it.
RATIO_TICKS = (0.001, 0.01, 0.1, 0.2, 0.5, POWER_RATIO_BAND[0], 1.0, POWER_RATIO_BAND[1], 2.0,
               5.0, 10.0, 100.0, 1000.0)
METRIC_LABELS = {"crps": "fair CRPS", "crps_standard": "standard CRPS",
                 "rmse": "ensemble-mean RMSE", "spread": "ensemble spread",
                 "spread_skill": "spread/skill", "latitude_coherence": "latitude-to-latitude coherence"}
UNITLESS = {"spread_skill"}
CORRELATIONS = {"latitude_coherence"}


def _checked(table: pd.DataFrame, figure: str, lead_days: float | None = None) -> pd.DataFrame:
    """`table` restricted to `lead_days` (all leads when None), with the columns `figure` needs."""
    return checked_rows(table, figure, REQUIRED[figure], lead_days)


def lead_time_scores(summary: pd.DataFrame, metric: str, dashed: str | None = None) -> bytes:
    """One score against lead time, a line per model, a panel per variable; with `dashed`, a
    second score in the same units drawn dashed in each model's colour (e.g. the standard CRPS
    beside the fair one: the gap is what a small ensemble's user pays for its size).

    Args:
        summary: long summary table, columns variable, lead_time_days, model, `metric` and
            `dashed` (crps, crps_standard, rmse, spread: the variable's units; spread_skill:
            unitless, where a dashed grey line marks the calibrated ratio 1; latitude_coherence:
            a correlation).
    """
    table = _checked(summary, "lead_time_scores")
    metrics = [metric] if dashed is None else [metric, dashed]
    absent = [m for m in metrics if m not in table.columns]
    if absent:
        raise ValueError(f"lead_time_scores: table has no column(s) {absent}")
    labels = [METRIC_LABELS.get(m, m) for m in metrics]
    styles = dict(zip(metrics, ("-", "--")))
    title = (f"{labels[0]} by lead time" if dashed is None
             else f"{labels[0]} (solid) and {labels[1]} (dashed) by lead time")
    colours = model_colours(table["model"])
    fig, spare, panels = by_variable(table, title)
    for ax, variable, rows in panels:
        for model, line in rows.groupby("model", sort=False):
            line = line.sort_values("lead_time_days")
            for m, style in styles.items():
                # One legend entry per model: the dashed twin is labelled by the style key below.
                ax.plot(line["lead_time_days"], line[m], marker="o", linestyle=style,
                        color=colours[model], label=model if m == metric else None)
        if dashed is not None:
            for label, style in zip(labels, styles.values()):
                ax.plot([], [], color="0.3", linestyle=style, label=label)
        if metric in UNITLESS:
            ax.axhline(1.0, color="0.3", linestyle="--", linewidth=1, label="calibrated (1)")
            ax.set_ylabel(labels[0])
        elif metric in CORRELATIONS:
            ax.set_ylabel("correlation")
        else:
            # Two scores share the axis: the title and the legend say which line is which.
            quantity = labels[0] if dashed is None else "score"
            ax.set_ylabel(f"{quantity} ({variable_units(variable)})")
        ax.set_title(variable)
        ax.set_xlabel("lead time (days)")
        ax.grid(alpha=0.3)
    return with_legend(fig, panels, spare)


def rank_histograms(ranks: pd.DataFrame, lead_days: float) -> bytes:
    """Rank histograms at one lead, a step line per model, a panel per variable.

    Counts are summed over repeated (model, variable, lead, rank) rows (several inits), and each
    bin is drawn as its share relative to the uniform share 1/(N+1), over the rank scaled to
    [0, 1] so that ensembles of different sizes N share an axis; a flat histogram lies on 1.
    """
    table = _checked(ranks, "rank_histograms", lead_days)
    colours = model_colours(table["model"])
    fig, spare, panels = by_variable(table, f"Rank histograms at lead {lead_days:g} days")
    for ax, variable, rows in panels:
        for model, group in rows.groupby("model", sort=False):
            counts = group.groupby("rank")["count"].sum().sort_index().to_numpy(dtype=float)
            share = counts / counts.sum() * counts.size
            ax.stairs(share, np.linspace(0.0, 1.0, counts.size + 1), color=colours[model],
                      linewidth=1.5, baseline=None, label=f"{model} ({counts.size} bins)")
        ax.axhline(1.0, color="0.3", linestyle="--", linewidth=1, zorder=3, label="uniform")
        ax.set_title(variable)
        ax.set_xlabel("rank of truth / (N + 1)")
        ax.set_ylabel("share / uniform share")
        ax.set_xlim(0, 1)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    return with_legend(fig, panels, spare)


def reliability_diagram(reliability: pd.DataFrame, quantile: float, lead_days: float) -> bytes:
    """Reliability diagram of one climatological-quantile event at one lead, a panel per variable:
    the value falls below the `quantile` (< 0.5) or exceeds it (> 0.5), as scored upstream.

    Each model is a line of (mean forecast probability, observed frequency) per probability bin,
    with marker area proportional to the number of forecasts in the bin (relative to the fullest
    bin of that panel); the diagonal is perfect reliability.
    """
    table = _checked(reliability, "reliability_diagram", lead_days)
    table = table[np.isclose(table["quantile"], quantile)]
    if table.empty:
        raise ValueError(f"reliability_diagram: no rows for quantile {quantile:g}")
    colours = model_colours(table["model"])
    # The event convention of seeds_dag.verification.extremes: below a low quantile, above a high one.
    event = f"{'below' if quantile < 0.5 else 'above'} the {quantile:.0%} climatological quantile"
    fig, spare, panels = by_variable(
        table, f"Reliability of values {event}, lead {lead_days:g} days "
        "(marker area ∝ forecasts in bin)")
    for ax, variable, rows in panels:
        largest = max(float(rows["n_forecasts"].max()), 1.0)
        ax.plot([0, 1], [0, 1], color="0.3", linestyle="--", linewidth=1, label="perfect")
        for model, line in rows.groupby("model", sort=False):
            line = line.sort_values("mean_probability")
            ax.plot(line["mean_probability"], line["observed_frequency"], color=colours[model],
                    linewidth=1.2, label=model)
            ax.scatter(line["mean_probability"], line["observed_frequency"], color=colours[model],
                       s=8 + 120 * line["n_forecasts"] / largest, zorder=3)
        ax.set_title(variable)
        ax.set_xlabel("forecast probability")
        ax.set_ylabel("observed frequency")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
    return with_legend(fig, panels, spare)


def _map_axes(ax, lat: np.ndarray, lon: np.ndarray, *, left: bool, bottom: bool) -> None:
    """Plain lat/lon axes in degrees, labelled only on the figure's left and bottom edges."""
    ax.set_xlim(lon.min() - 0.5 * np.diff(lon[:2]).sum(), lon.max() + 0.5 * np.diff(lon[:2]).sum())
    ax.set_ylim(-90, 90)
    ax.set_xticks(np.arange(0, 361, 90))
    ax.set_yticks(np.arange(-90, 91, 45))
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7, labelleft=left, labelbottom=bottom)
    if left:
        ax.set_ylabel("lat (°N)", fontsize=8)
    if bottom:
        ax.set_xlabel("lon (°E)", fontsize=8)


def _grid(frame: pd.DataFrame, value: str) -> xr.DataArray:
    """A (lat, lon) field from long rows with lat, lon and `value` columns (mean over repeats)."""
    return frame.groupby(["lat", "lon"])[value].mean().to_xarray().sortby(["lat", "lon"])


def bias_maps(bias: pd.DataFrame, lead_days: float) -> bytes:
    """Maps of the mean error (forecast - truth) at one lead: a row per model, a column per
    variable, a diverging colour map centred on 0 with limits symmetric per variable (the largest
    |error| of any model, so models compare at a glance) and a colour bar in the variable's units.
    """
    table = _checked(bias, "bias_maps", lead_days)
    models = list(dict.fromkeys(table["model"]))
    variables = variables_in(table)
    fig = Figure(figsize=(MAP_SIZE[0] * len(variables) + 0.6,
                          MAP_SIZE[1] * len(models) + 1.2), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(models), len(variables), squeeze=False)
    fig.suptitle(f"Mean error (forecast - truth) at lead {lead_days:g} days")
    for column, variable in enumerate(variables):
        rows = table[table["variable"] == variable]
        limit = float(np.nanmax(np.abs(rows["mean_error"]))) or 1.0
        image = None
        for row, model in enumerate(models):
            ax = axes[row, column]
            field = rows[rows["model"] == model]
            if column == 0:
                ax.annotate(model, xy=(-0.45, 0.5), xycoords="axes fraction", rotation=90,
                            ha="center", va="center", fontsize=9, fontweight="bold")
            if row == 0:
                ax.set_title(variable, fontsize=10)
            if field.empty:
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            grid = _grid(field, "mean_error")
            image = ax.pcolormesh(grid["lon"], grid["lat"], grid.values, cmap="RdBu_r",
                                  vmin=-limit, vmax=limit, shading="nearest")
            _map_axes(ax, grid["lat"].values, grid["lon"].values,
                      left=column == 0, bottom=row == len(models) - 1)
        if image is not None:
            bar = fig.colorbar(image, ax=axes[:, column], location="bottom", shrink=0.9,
                               aspect=15)
            bar.set_label(f"{variable} error ({variable_units(variable)})", fontsize=8)
            bar.ax.tick_params(labelsize=7)
    return png_bytes(fig)


def zonal_spectra(spectra: pd.DataFrame, lead_days: float) -> bytes:
    """Zonal power spectra of members at one lead on log-log axes, a line per model, a panel per
    variable; wavenumber 0 (the zonal mean) is left out since it has no place on a log axis."""
    table = _checked(spectra, "zonal_spectra", lead_days)
    table = table[table["wavenumber"] > 0]
    colours = model_colours(table["model"])
    fig, spare, panels = by_variable(table, f"Zonal power spectra at lead {lead_days:g} days")
    for ax, variable, rows in panels:
        for model, line in rows.groupby("model", sort=False):
            line = line.groupby("wavenumber")["power"].mean()
            # The truth is the reference: dashed, so a model lying on it stays visible.
            dashes = {"linestyle": "--", "linewidth": 2} if model == "truth" else {}
            ax.loglog(line.index, line.to_numpy(), color=colours[model], label=model, **dashes)
        units = variable_units(variable)
        ax.set_ylabel(f"power ({units})$^2$" if units else "power")
        ax.set_xlabel("zonal wavenumber")
        ax.set_title(variable)
        ax.grid(alpha=0.3, which="both")
    return with_legend(fig, panels, spare)


def power_ratio(ratios: pd.DataFrame, lead_days: float) -> bytes:
    """Zonal power of each model's members over the physics members' at one lead, against
    wavenumber on a log ratio axis (a factor too much and too little lie equally far from 1), a
    line per model, a panel per variable, the target band shaded."""
    table = _checked(ratios, "power_ratio", lead_days)
    colours = model_colours(table["model"])
    low, high = POWER_RATIO_BAND
    fig, spare, panels = by_variable(table, f"Zonal power / physics members' at lead "
                                             f"{lead_days:g} days")
    for ax, variable, rows in panels:
        ax.axhspan(low, high, color="0.85", label=f"target {low:g}–{high:g}")
        ax.axhline(1.0, color="0.3", linestyle="--", linewidth=1)
        for model, line in rows.groupby("model", sort=False):
            line = line.sort_values("wavenumber")
            ax.plot(line["wavenumber"], line["power_ratio"], marker=".", color=colours[model],
                    label=model)
        ax.set_yscale("log")
        # Plain numbers (0.8, 1.25) where the default log axis writes 8x10^-1 or nothing.
        low_limit, high_limit = ax.get_ylim()
        ax.set_yticks([t for t in RATIO_TICKS if low_limit <= t <= high_limit])
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("zonal wavenumber")
        ax.set_ylabel("power ratio")
        ax.set_title(variable)
        ax.grid(alpha=0.3, which="both")
    return with_legend(fig, panels, spare)


def coherence_by_lead_pair(coherence: pd.DataFrame) -> bytes:
    """Lead-to-lead coherence (correlation of a member's deviation from its ensemble mean between
    consecutive leads) against the lead pair, a line per model, a panel per variable; 0 (dotted)
    is members drawn independently at each lead."""
    table = _checked(coherence, "coherence_by_lead_pair")
    pairs = sorted(set(zip(table["first_lead_days"], table["second_lead_days"])))
    position = {pair: i for i, pair in enumerate(pairs)}
    colours = model_colours(table["model"])
    fig, spare, panels = by_variable(table, "Lead-to-lead coherence of members")
    for ax, variable, rows in panels:
        ax.axhline(0.0, color="0.3", linestyle=":", linewidth=1)
        for model, line in rows.groupby("model", sort=False):
            line = line.sort_values("first_lead_days")
            x = [position[p] for p in zip(line["first_lead_days"], line["second_lead_days"])]
            ax.plot(x, line["coherence"], marker="o", color=colours[model], label=model)
        ax.set_xticks(range(len(pairs)), [f"{a:g}→{b:g}" for a, b in pairs],
                      rotation=45 if len(pairs) > 4 else 0, fontsize=8)
        ax.set_xlabel("lead pair (days)")
        ax.set_ylabel("correlation")
        ax.set_title(variable)
        ax.grid(alpha=0.3)
    return with_legend(fig, panels, spare)


def example_members(panels: Mapping[str, xr.DataArray], variable: str, units: str) -> bytes:
    """Fields side by side on the same colour limits, one shared colour bar in `units`.

    Args:
        panels: title (e.g. "truth", "physics member 0", "gee member 0") -> field with dims
            (lat, lon), degrees north / east.
        variable: name shown in the title.
        units: CF units of the fields (e.g. "K").

    Fields taking both signs (winds) get a diverging map centred on 0 with symmetric limits; the
    others (geopotential, temperature, pressure) a sequential map over the common range.
    """
    if not panels:
        raise ValueError(f"example_members: no fields given for {variable}")
    bad = {title: field.dims for title, field in panels.items() if set(field.dims) != {"lat", "lon"}}
    if bad:
        raise ValueError(f"example_members: fields must have dims (lat, lon), got {bad}")
    low = min(float(field.min()) for field in panels.values())
    high = max(float(field.max()) for field in panels.values())
    if low < 0 < high:
        limit = max(-low, high)
        colours = {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit}
    else:
        colours = {"cmap": "viridis", "vmin": low, "vmax": high}
    # As few rows as EXAMPLE_COLUMNS across allow, filled evenly (7 panels: 4 + 3, not 3 + 3 + 1).
    rows = math.ceil(len(panels) / EXAMPLE_COLUMNS)
    columns = math.ceil(len(panels) / rows)
    # The same ~1000 px width however many columns: each map 2:1, plus its title and ticks.
    height = EXAMPLE_WIDTH / columns / 2 + 0.55
    fig = Figure(figsize=(EXAMPLE_WIDTH, height * rows + 0.9), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    fig.suptitle(f"{variable}: truth and ensemble members")
    image = None
    for index, (ax, (title, field)) in enumerate(zip(axes.ravel(), panels.items())):
        field = field.transpose("lat", "lon").sortby(["lat", "lon"])
        image = ax.pcolormesh(field["lon"], field["lat"], field.values, shading="nearest",
                              **colours)
        ax.set_title(title, fontsize=10)
        _map_axes(ax, field["lat"].values, field["lon"].values, left=index % columns == 0,
                  bottom=index + columns >= len(panels))
    for ax in axes.ravel()[len(panels):]:
        ax.set_axis_off()
    bar = fig.colorbar(image, ax=axes, location="bottom", shrink=0.6, aspect=35)
    bar.set_label(f"{variable} ({units_label(units)})")
    return png_bytes(fig)

