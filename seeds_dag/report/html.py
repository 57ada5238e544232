"""The verification report as one self-contained HTML page: figures embedded as base64 PNG data
URIs, tables as HTML, no external scripts, styles or images, so the file can be mailed or opened
from any storage root as it is."""

from __future__ import annotations

import base64
import dataclasses
import html
from collections.abc import Mapping, Sequence

import pandas as pd

# Inline so that the page needs nothing else; sized for reading figures at their ~1000 px width.
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1320px; margin: 2em auto; padding: 0 1em;
       color: #222; }
h1 { border-bottom: 2px solid #444; }
h2 { margin-top: 2em; border-bottom: 1px solid #bbb; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f0f0f0; }
p.note { color: #555; }
"""
TABLE_FORMAT = "{:#.4g}".format


@dataclasses.dataclass(frozen=True)
class Section:
    """One part of the report: a heading, optional text, figures (name -> PNG bytes, shown with the
    name as caption) and tables (caption -> DataFrame), drawn in that order."""

    heading: str
    text: str = ""
    figures: Mapping[str, bytes] = dataclasses.field(default_factory=dict)
    tables: Mapping[str, pd.DataFrame] = dataclasses.field(default_factory=dict)


def png_data_uri(png: bytes) -> str:
    """A `data:image/png;base64,...` URI of PNG bytes, for <img src> and Markdown images."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def wide_table(long: pd.DataFrame, value: str,
               index: Sequence[str] = ("variable", "lead_time_days")) -> pd.DataFrame:
    """One metric of a long table side by side per model: rows `index`, a column per model in
    order of first appearance, rows in the order `long` gives them (e.g. CRPS per (variable,
    lead) of each model)."""
    models = list(dict.fromkeys(long["model"]))
    wide = long.pivot_table(index=list(index), columns="model", values=value, sort=False)
    return wide.reindex(columns=models)


def _figure(name: str, png: bytes) -> str:
    label = html.escape(name)
    return (f'<figure><img alt="{label}" src="{png_data_uri(png)}">'
            f"<figcaption>{label}</figcaption></figure>")


def _table(caption: str, table: pd.DataFrame) -> str:
    body = table.to_html(float_format=TABLE_FORMAT, border=0, na_rep="–")
    return f"<h3>{html.escape(caption)}</h3>\n{body}"


def render_report(title: str, sections: Sequence[Section]) -> str:
    """The whole report as one HTML document (UTF-8 text)."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.heading)}</h2>")
        if section.text:
            parts.append(f'<p class="note">{html.escape(section.text)}</p>')
        parts += [_figure(name, png) for name, png in section.figures.items()]
        parts += [_table(caption, table) for caption, table in section.tables.items()]
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")
