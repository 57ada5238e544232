"""The verification report: PNG figures and one self-contained HTML page drawn from the pooled
verification tables, with every figure attached as metadata so the Dagster UI shows it.

Only the summary table is required. The other tables (the paper's CRPS claim, the perfect-model
scores, extremes, reliability, bias maps, spectra, power ratios, lead-to-lead coherence, energy
score, cross-variable correlation, rank histograms) and the example maps' datasets are drawn
when present; a figure whose inputs are absent or lack the lead asked for is skipped, and the
metadata say which and why.
"""

from collections.abc import Callable

import pandas as pd
import xarray as xr
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from assets.automation import follows_dependencies
from assets.object_names import (
    BIAS_MAPS,
    CALIBRATION,
    COHERENCE,
    CRPS_CLAIM,
    MERIDIONAL,
    ENERGY_SCORE,
    EXTREMES,
    INITS_OBJECT,
    PERFECT_MODEL,
    POWER_RATIO,
    RANK_HISTOGRAMS,
    REALISM,
    RELIABILITY,
    REPORT,
    REPORT_PAGE,
    SPECTRA,
    VARIABLE_CORRELATION,
)
from assets.summary import pooled_inits, verification_summary
from assets.verification import SCORES, SUMMARY
from assets.versions import CODE_VERSIONS
from resources import StorageResource
from seeds_dag.conventions import KNOWN_VARIABLES
from seeds_dag.emulation import model_ensembles
from seeds_dag.report import calibration_figures, figures, multivariate_figures, perfect_model_figures
from seeds_dag.report.html import Section, png_data_uri, render_report, wide_table
from seeds_dag.store import ArtifactNotFoundError, ArtifactStore
from seeds_dag.store.objects import TABLE
from seeds_dag.truth_alignment import align_truth
from seeds_dag.verification.claims import CLAIM_TARGET, FAIR_OVER_PHYSICS, STANDARD_OVER_SEEDS
from seeds_dag.verification.multivariate import CORRELATION, FIRST_VARIABLE, SECOND_VARIABLE
from seeds_dag.verification.perfect_model_summary import (
    FAIR_OVER_IDEAL,
    PERFECT_MODEL_TARGET,
    STANDARD_OVER_IDEAL,
)

# Table name -> object of verification_summary holding it.
SUMMARY_OBJECTS = {"summary": TABLE, "extremes": EXTREMES,
                   "reliability": RELIABILITY, "bias_maps": BIAS_MAPS,
                   "spectra": SPECTRA, "power_ratio": POWER_RATIO,
                   "coherence": COHERENCE, "crps_claim": CRPS_CLAIM,
                   "energy_score": ENERGY_SCORE, "variable_correlation": VARIABLE_CORRELATION,
                   "perfect_model": PERFECT_MODEL, "calibration": CALIBRATION, "realism": REALISM,
                   "meridional": MERIDIONAL}
# The two tails SEEDS judges extremes by.
EVENT_QUANTILES = (0.01, 0.99)
Draw = Callable[[pd.DataFrame, float], bytes]
# (section, figure name, table it is drawn from, how), in report order.
FIGURES: list[tuple[str, str, str, Draw]] = [
    ("Scores by lead time", "crps_by_lead", "summary",
     lambda t, lead: figures.lead_time_scores(t, "crps", dashed="crps_standard")),
    ("Scores by lead time", "spread_skill_by_lead", "summary",
     lambda t, lead: figures.lead_time_scores(t, "spread_skill")),
    ("Perfect model", "perfect_model_crps_over_ideal", "perfect_model",
     lambda t, lead: perfect_model_figures.crps_over_ideal_by_lead(t)),
    ("Realism at a glance", "variance_ratio_by_band", "calibration",
     lambda t, lead: calibration_figures.variance_ratio_by_band(t)),
    ("Calibration", "rank_histograms", "ranks", figures.rank_histograms),
    *[("Extremes", f"reliability_q{round(q * 100):02d}", "reliability",
       lambda t, lead, q=q: figures.reliability_diagram(t, q, lead)) for q in EVENT_QUANTILES],
    ("Bias", "bias_maps", "bias_maps", figures.bias_maps),
    ("Spatial realism", "zonal_spectra", "spectra", figures.zonal_spectra),
    ("Spatial realism", "power_ratio", "power_ratio", figures.power_ratio),
    ("Spatial realism", "latitude_coherence_by_lead", "meridional",
     lambda t, lead: figures.lead_time_scores(t, "latitude_coherence")),
    ("Temporal realism", "coherence_by_lead_pair", "coherence",
     lambda t, lead: figures.coherence_by_lead_pair(t)),
    ("Multivariate realism", "energy_score_by_lead", "energy_score",
     lambda t, lead: multivariate_figures.energy_score_by_lead(t)),
    ("Multivariate realism", "variable_correlation_by_lead", "variable_correlation",
     lambda t, lead: multivariate_figures.variable_correlation_by_lead(t)),
]
EXAMPLE_SECTION = "Spatial realism"
# (section, caption, table, value column, row index) of the HTML tables, in report order.
TABLES = [
    *[("Scores by lead time", caption, "summary", metric, ("variable", "lead_time_days"))
      for metric, caption in (("crps", "CRPS (fair)"), ("crps_standard", "CRPS (standard)"),
                              ("rmse", "Ensemble-mean RMSE"), ("spread", "Spread"),
                              ("spread_skill", "Spread/skill"))],
    ("Scores by lead time", f"The paper's claim: standard CRPS / the seeds' standard CRPS, mean "
     f"over variables (target <= {CLAIM_TARGET:.2f})", "crps_claim", STANDARD_OVER_SEEDS,
     ("lead_time_days",)),
    ("Scores by lead time", "Fair CRPS / the physics ensemble's fair CRPS, mean over variables",
     "crps_claim", FAIR_OVER_PHYSICS, ("lead_time_days",)),
    *[("Perfect model", caption, "perfect_model", value, ("variable", "lead_time_days"))
      for value, caption in (
          (FAIR_OVER_IDEAL, f"Fair CRPS / ideal-K's fair CRPS, a physics member as the truth "
                            f"(target <= {PERFECT_MODEL_TARGET:.2f})"),
          (STANDARD_OVER_IDEAL, "Standard CRPS / ideal-K's standard CRPS, a physics member as "
                                "the truth"),
          ("spread_skill", "Spread/skill, a physics member as the truth"))],
    *[("Realism at a glance", f"{caption} of each realism target against the physics members "
       "(bounds in the row; summary.txt says met or missed)", "realism", value, ("target", "bounds"))
      for value, caption in (("lowest", "Lowest value"), ("highest", "Highest value"))],
    ("Realism at a glance", "Variance of members about the seeds' mean / the physics members', by "
     "zonal wavenumber band", "calibration", "variance_ratio", ("variable", "lead_time_days", "band")),
    *[("Extremes", caption, "extremes", value, ("variable", "lead_time_days", "quantile"))
      for value, caption in (("bss", "Brier skill score vs climatology"),
                             ("roc_auc", "ROC AUC"), ("brier", "Brier score"))],
    ("Spatial realism", "Latitude-to-latitude coherence of members", "meridional", "latitude_coherence",
     ("variable", "lead_time_days")),
    ("Temporal realism", "Lead-to-lead coherence of members", "coherence", "coherence",
     ("variable", "first_lead_days", "second_lead_days")),
    *[("Multivariate realism", f"Energy score over the variables, {caption}", "energy_score",
       value, ("lead_time_days",))
      for value, caption in (("energy_score", "fair"), ("energy_score_standard", "standard"))],
    ("Multivariate realism", "Cross-variable correlation of member deviations",
     "variable_correlation", CORRELATION, (FIRST_VARIABLE, SECOND_VARIABLE, "lead_time_days")),
]


class ReportConfig(Config):
    """What the single-lead figures and the example maps show."""

    lead_days: float | None = Field(
        default=None, description="Lead (days) of the single-lead figures and the example maps; "
        "None: the longest lead of the summary table.")
    example_variable: str = Field(default="t850", description="Variable of the example maps.")
    example_members: int = Field(default=2, ge=1, description="Members of each ensemble shown.")


def read_tables(store: ArtifactStore) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The verification tables present in the store, and why each absent one is absent.
    Rank counts are the tables of the verification_scores partitions the summary pooled, stacked
    (the figure sums them). The summary's objects are read from one commit of it."""
    tables, missing = {}, {}
    summary = store.objects(SUMMARY)
    for name, obj in SUMMARY_OBJECTS.items():
        try:
            tables[name] = summary.read_table(obj)
        except ArtifactNotFoundError:
            missing[name] = f"no {SUMMARY}/{obj} in the store"
    try:
        keys = [k for k in pooled_inits(summary) if store.exists_bytes(SCORES, RANK_HISTOGRAMS, k)]
    except ArtifactNotFoundError:
        keys, missing["ranks"] = [], (f"no {SUMMARY}/{INITS_OBJECT} (a summary of an older "
                                      f"version): rematerialise {SUMMARY}")
    if keys:
        tables["ranks"] = pd.concat([store.read_table(SCORES, k, name=RANK_HISTOGRAMS) for k in keys],
                                    ignore_index=True)
    elif "ranks" not in missing:
        missing["ranks"] = f"no {SCORES} partition pooled by {SUMMARY} holds {RANK_HISTOGRAMS}"
    return tables, missing


def example_panels(store: ArtifactStore, variable: str, lead_days: float,
                   n_members: int) -> dict[str, xr.DataArray]:
    """(lat, lon) fields of `variable` at one lead of the newest init the summary
    pooled: truth at the
    valid time, then the first `n_members` members of the physics ensemble and of each emulated
    ensemble (one per value of a `model` dim, e.g. "gee" and "gpp", or one named "emulated")."""
    keys = pooled_inits(store.objects(SUMMARY))
    if not keys:
        raise ArtifactNotFoundError(f"no {SCORES} partition: no verified init to show")
    key = keys[-1]
    lead = pd.Timedelta(days=lead_days).to_timedelta64()
    physics = store.open_dataset("operational_ensemble", key)[variable].isel(init_time=0)
    if lead not in physics["lead_time"].values:
        raise ValueError(f"operational_ensemble[{key}] has no lead {lead_days:g} days for the "
                         f"example maps (leads {physics['lead_time'].values})")
    truth = align_truth(store.open_dataset("truth")[[variable]], physics["init_time"].values[None],
                        [lead])[variable].isel(init_time=0, lead_time=0)
    emulated = store.open_dataset("daily_emulated_ensembles", key)[variable].isel(init_time=0)
    ensembles = {"physics": physics, **model_ensembles(emulated)}
    panels = {"truth": truth}
    for name, ensemble in ensembles.items():
        for member in range(min(n_members, ensemble.sizes["member"])):
            panels[f"{name} member {member}"] = ensemble.sel(lead_time=lead).isel(member=member)
    return {title: field.drop_vars(set(field.coords) - {"lat", "lon"}).load()
            for title, field in panels.items()}


def _sections(pngs: dict[str, bytes], tables: dict[str, pd.DataFrame],
              skipped: dict[str, str]) -> list[Section]:
    """The report's sections in order, each with its drawn figures and its present tables."""
    headings = list(dict.fromkeys([s for s, *_ in FIGURES] + [s for s, *_ in TABLES]))
    placed = {name: section for section, name, *_ in FIGURES} | {"example_members": EXAMPLE_SECTION}
    sections = []
    for heading in headings:
        section_figures = {n: png for n, png in pngs.items() if placed[n] == heading}
        # A table written by an older summary may lack a column (crps_standard): leave it out.
        section_tables = {caption: wide_table(tables[table], value, index)
                          for section, caption, table, value, index in TABLES
                          if section == heading and value in tables.get(table, ())}
        if section_figures or section_tables:
            sections.append(Section(heading, figures=section_figures, tables=section_tables))
    if skipped:
        sections.append(Section("Skipped figures", text="; ".join(
            f"{name}: {why}" for name, why in skipped.items())))
    return sections


@asset(group_name="verification", deps=[verification_summary],
       code_version=CODE_VERSIONS[REPORT], automation_condition=follows_dependencies(),
       description="Figures (fair and standard CRPS and spread/skill by lead, the perfect-model "
       "fair CRPS over ideal-K's by lead with its target, the realism scorecard and the members' "
       "variance about the seeds by wavenumber band over the physics members', rank histograms, "
       "reliability of the 1%/99% events, bias maps, zonal spectra and power ratios to physics, "
       "lead-to-lead coherence, energy score by lead, cross-variable correlations, example "
       "members) and one self-contained HTML report from the pooled verification tables, with "
       "the paper's CRPS claim; figures shown in the UI.")
def verification_report(context: AssetExecutionContext, config: ReportConfig,
                        storage: StorageResource) -> MaterializeResult:
    store = storage.store()
    tables, missing = read_tables(store)
    if "summary" not in tables:
        raise FileNotFoundError(f"{REPORT}: {missing['summary']}; materialise {SUMMARY} first")
    lead = config.lead_days if config.lead_days is not None else float(
        tables["summary"]["lead_time_days"].max())
    pngs, skipped = {}, {}
    for _, name, table, draw in FIGURES:
        if table not in tables:
            skipped[name] = missing[table]
            continue
        try:
            pngs[name] = draw(tables[table], lead)
        except ValueError as error:  # the table lacks what this figure needs (a lead, a column)
            skipped[name] = str(error)
    variable = config.example_variable
    if variable not in KNOWN_VARIABLES:
        raise ValueError(f"{REPORT}: example_variable {variable!r} is not a known variable "
                         f"({', '.join(KNOWN_VARIABLES)})")
    try:
        panels = example_panels(store, variable, lead, config.example_members)
        pngs["example_members"] = figures.example_members(panels, variable,
                                                          KNOWN_VARIABLES[variable].units)
    except (ArtifactNotFoundError, KeyError, ValueError) as error:  # KeyError: variable not stored
        skipped["example_members"] = f"{type(error).__name__}: {error}"
    for name, png in pngs.items():
        store.write_bytes(REPORT, f"{name}.png", png)
    page = render_report(f"seeds-dag verification report (lead {lead:g} days in single-lead "
                         "figures)", _sections(pngs, tables, skipped))
    report_url = store.write_bytes(REPORT, REPORT_PAGE, page.encode("utf-8"))
    for name, why in skipped.items():
        context.log.warning(f"{REPORT}: skipped {name}: {why}")
    return MaterializeResult(metadata={
        "location": store.location(REPORT),
        "report": MetadataValue.path(report_url),
        "lead_time_days": lead,
        "skipped": MetadataValue.json(skipped),
        **{name: MetadataValue.md(f"![{name}]({png_data_uri(png)})") for name, png in pngs.items()},
    })
