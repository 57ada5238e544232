"""What every report figure shares: the size and resolution of a panel, a colour per model family,
drawable units, the check of a figure's table, and a grid of line-plot panels with one legend.

Figures are built on `matplotlib.figure.Figure` with the Agg canvas, never through pyplot, so
nothing global is touched and no figure outlives the call.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seeds_dag.conventions import KNOWN_VARIABLES

DPI = 100
PANEL_COLUMNS = 3
PANEL_SIZE = (3.3, 2.6)  # inches per line-plot panel: three across make ~1000 px at DPI
# One colour per model family (the name before "-N"), so a model keeps its colour in every figure;
# the seeds and the physics ensemble are the reference, drawn in neutral greys.
# The spectra table also carries the truth's own spectrum, the reference drawn in red.
FAMILY_COLOURS = {"seeds": "tab:gray", "physics": "black", "gee": "tab:blue",
                  "emulated": "tab:blue", "gpp": "tab:orange", "climatology": "tab:green",
                  "truth": "tab:red"}
OTHER_COLOURS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


def units_label(units: str) -> str:
    """CF units as mathtext: "m2 s-2" -> m$^{2}$ s$^{-2}$ (drawn m² s⁻²)."""
    return re.sub(r"([A-Za-z]+)(-?\d+)", r"\1$^{\2}$", units)


def variable_units(variable: str) -> str:
    """Drawable units of a known variable, "" for an unknown one."""
    known = KNOWN_VARIABLES.get(variable)
    return units_label(known.units) if known else ""


def model_colours(models: Iterable[str]) -> dict[str, str]:
    """A colour per model: by family (see `FAMILY_COLOURS`), else the next unused spare colour."""
    spare = iter(OTHER_COLOURS * 4)
    return {m: FAMILY_COLOURS.get(m.split("-")[0]) or next(spare) for m in dict.fromkeys(models)}


def png_bytes(fig: Figure) -> bytes:
    """Render `fig` with the Agg canvas as PNG bytes."""
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return buffer.getvalue()


def checked_rows(table: pd.DataFrame, figure: str, required: set[str],
                 lead_days: float | None = None) -> pd.DataFrame:
    """`table` restricted to `lead_days` (all leads when None), after checking it has the
    `required` columns; ValueError naming `figure` and what is missing otherwise."""
    missing = required - set(table.columns)
    if missing:
        raise ValueError(f"{figure}: table lacks column(s) {sorted(missing)}")
    if lead_days is not None:
        table = table[np.isclose(table["lead_time_days"], lead_days)]
        if table.empty:
            raise ValueError(f"{figure}: no rows at lead {lead_days:g} days")
    if table.empty:
        raise ValueError(f"{figure}: table is empty")
    return table


def variables_in(table: pd.DataFrame) -> list[str]:
    """Variables of `table`, the conventions' order first, then others as they appear."""
    present = list(dict.fromkeys(table["variable"]))
    return [v for v in KNOWN_VARIABLES if v in present] + [v for v in present if v not in KNOWN_VARIABLES]


def panel_grid(n_panels: int, title: str, *, legend_cell: bool = False
               ) -> tuple[Figure, list, object | None]:
    """A figure of `n_panels` line-plot panels, `PANEL_COLUMNS` across; returns the figure, the
    panels and a spare axes for the legend (None when the grid is full). With `legend_cell`, the
    grid has one cell more than panels, so the legend always gets one (few panels stay readable
    at the width of the others rather than sharing it with a legend below)."""
    cells = n_panels + legend_cell
    columns = min(PANEL_COLUMNS, cells)
    rows = math.ceil(cells / columns)
    fig = Figure(figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows + 0.4), dpi=DPI,
                 layout="constrained")
    axes = list(fig.subplots(rows, columns, squeeze=False).ravel())
    for ax in axes[n_panels:]:
        ax.set_axis_off()
    fig.suptitle(title)
    return fig, axes[:n_panels], (axes[n_panels] if n_panels < len(axes) else None)


def by_variable(table: pd.DataFrame, title: str) -> tuple[Figure, object | None, list]:
    """A panel grid with one panel per variable of `table`: the figure, the spare axes (see
    `panel_grid`) and (axes, variable, that variable's rows) per panel."""
    variables = variables_in(table)
    fig, axes, spare = panel_grid(len(variables), title)
    return fig, spare, [(ax, v, table[table["variable"] == v]) for ax, v in zip(axes, variables)]


def with_legend(fig: Figure, panels: list, spare) -> bytes:
    """The PNG of `fig` with one legend of every labelled line of `panels` ((axes, ...) tuples,
    as `by_variable` gives them): in the spare grid cell if any, else under the panels."""
    handles = {}
    for ax, *_ in panels:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if spare is not None:
        spare.legend(handles.values(), handles.keys(), loc="center", frameon=False)
    else:
        fig.legend(handles.values(), handles.keys(), loc="outside lower center",
                   ncols=min(len(handles), 6), frameon=False)
    return png_bytes(fig)
