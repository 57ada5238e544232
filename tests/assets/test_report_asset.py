"""`verification_report` materialised through the real definitions on a tiny synthetic store: the
PNGs and the HTML land under the storage root, the metadata carry each figure as an image the UI
shows, and whatever inputs are absent are skipped with a reason."""

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import report_tables as synthetic
import xarray as xr
from tiny_experiment import materialise, metadata

from assets.report import (
    EVENT_QUANTILES,
    FIGURES,
    REPORT,
    SUMMARY_OBJECTS,
    ReportConfig,
    example_panels,
)
from assets.verification import SCORES
from seeds_dag.conventions import (
    FORECAST_DIMS,
    VARIABLES,
    attach_attributes,
    regular_latitudes,
    regular_longitudes,
)
from seeds_dag.store import ArtifactStore

INITS = ["2000-01-19", "2000-01-20"]
N_MEMBERS = 3
ALL_FIGURES = [name for _, name, *_ in FIGURES] + ["example_members"]
IMAGE = re.compile(r"^!\[(\w+)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)$")


def _forecast(init: str, n_members: int, models: list[str] | None = None) -> xr.Dataset:
    """A forecast dataset of every variable around its typical value; with `models`, a leading
    `model` dim as daily_emulated_ensembles stores it."""
    lat, lon = regular_latitudes(synthetic.N_LAT), regular_longitudes(synthetic.N_LON)
    leads = pd.to_timedelta(synthetic.LEADS, unit="D").to_numpy()
    dims, shape = FORECAST_DIMS, (1, len(leads), n_members, lat.size, lon.size)
    coords = {"init_time": [np.datetime64(init, "ns")], "lead_time": leads,
              "member": np.arange(n_members), "lat": lat, "lon": lon}
    if models:
        dims, shape, coords = ("model", *dims), (len(models), *shape), {**coords, "model": models}
    rng = np.random.default_rng(0)
    return attach_attributes(xr.Dataset(
        {v: (dims, (synthetic.MEAN[v] + synthetic.SCALE[v] * rng.normal(size=shape))
             .astype(np.float32)) for v in VARIABLES}, coords=coords))


def _truth() -> xr.Dataset:
    lat, lon = regular_latitudes(synthetic.N_LAT), regular_longitudes(synthetic.N_LON)
    times = pd.date_range("2000-01-15", "2000-01-31", freq="D").to_numpy()
    return attach_attributes(xr.Dataset(
        {v: (("time", "lat", "lon"), np.full((times.size, lat.size, lon.size), synthetic.MEAN[v],
                                             np.float32)) for v in VARIABLES},
        coords={"time": times, "lat": lat, "lon": lon}))


def _write_store(root: Path, *, extras: bool = True, emulated_models: list[str] | None = None
                 ) -> ArtifactStore:
    """The pooled summary always; with `extras`, every other table and the datasets of the
    example maps (the newest init's; an older init's ranks too, stacked by the asset)."""
    store = ArtifactStore(str(root))
    store.write_table(synthetic.summary(), "verification_summary")
    if not extras:
        return store
    for name, table in {"extremes": synthetic.extremes(), "reliability": synthetic.reliability(),
                        "bias_maps": synthetic.bias_maps(), "spectra": synthetic.spectra(),
                        "power_ratio": synthetic.power_ratios(),
                        "coherence": synthetic.coherence(), "crps_claim": synthetic.crps_claim(),
                        "energy_score": synthetic.energy_score(),
                        "variable_correlation": synthetic.variable_correlation(),
                        "perfect_model": synthetic.perfect_model(),
                        "calibration": synthetic.calibration(), "realism": synthetic.realism(),
                        "meridional": synthetic.meridional()}.items():
        store.write_table(table, "verification_summary", name=SUMMARY_OBJECTS[name])
    for init in INITS:
        store.write_table(synthetic.ranks(n_inits=1), SCORES, init,
                          name="rank_histograms.parquet")
    store.write_bytes("verification_summary", "inits.json", json.dumps(INITS).encode())
    store.write_dataset(_truth(), "truth")
    store.write_dataset(_forecast(INITS[-1], N_MEMBERS), "operational_ensemble", INITS[-1])
    store.write_dataset(_forecast(INITS[-1], N_MEMBERS, emulated_models),
                        "daily_emulated_ensembles", INITS[-1])
    return store


def _images(meta: dict) -> dict[str, bytes]:
    """The figures in the metadata, decoded, after checking each is a Markdown data-URI image."""
    images = {}
    for key, value in meta.items():
        match = IMAGE.match(str(value))
        if match:
            assert match.group(1) == key
            images[key] = base64.b64decode(match.group(2))
    return images


def _report(root: Path, config: ReportConfig | None = None):
    return materialise(root, REPORT, config=config or ReportConfig())


def test_every_figure_is_stored_and_shown_in_the_metadata(tmp_path):
    store = _write_store(tmp_path, emulated_models=["gee", "gpp"])
    meta = metadata(_report(tmp_path), REPORT)
    images = _images(meta)
    assert sorted(images) == sorted(ALL_FIGURES)
    assert meta["skipped"] == {}
    assert meta["lead_time_days"] == max(synthetic.LEADS)
    for name, png in images.items():
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert store.read_bytes(REPORT, f"{name}.png") == png
    page = store.read_bytes(REPORT, "report.html").decode()
    assert meta["report"] == str(tmp_path / REPORT / "_all" / "report.html")
    assert Path(meta["report"]).read_text() == page
    for png in images.values():
        assert base64.b64encode(png).decode() in page
    assert "Brier skill score vs climatology" in page and "<th>gpp-128</th>" in page
    assert "Temporal realism" in page and "Lead-to-lead coherence of members" in page
    assert "Latitude-to-latitude coherence of members" in page
    assert "The paper&#x27;s claim: standard CRPS / the seeds&#x27; standard CRPS" in page
    assert "CRPS (standard)" in page and "Multivariate realism" in page
    assert "Cross-variable correlation of member deviations" in page
    assert "Perfect model" in page and "Fair CRPS / ideal-K&#x27;s fair CRPS" in page


def test_example_maps_show_truth_and_members_of_each_ensemble(tmp_path):
    store = _write_store(tmp_path, emulated_models=["gee", "gpp"])
    panels = example_panels(store, "t850", 3.0, n_members=2)
    assert list(panels) == ["truth", "physics member 0", "physics member 1", "gee member 0",
                            "gee member 1", "gpp member 0", "gpp member 1"]
    assert all(field.dims == ("lat", "lon") for field in panels.values())
    assert float(panels["truth"].mean()) == pytest.approx(synthetic.MEAN["t850"])
    # The stored emulated ensemble has one more dim (model) than the physics one.
    emulated = store.open_dataset("daily_emulated_ensembles", INITS[-1])["t850"]
    expected = emulated.sel(model="gpp", lead_time=np.timedelta64(3, "D")).isel(init_time=0,
                                                                               member=1)
    np.testing.assert_array_equal(panels["gpp member 1"].values, expected.values)


def test_an_emulated_ensemble_without_a_model_dim_is_one_panel_row(tmp_path):
    store = _write_store(tmp_path, emulated_models=None)
    panels = example_panels(store, "u850", 1.0, n_members=1)
    assert list(panels) == ["truth", "physics member 0", "emulated member 0"]


def test_absent_tables_are_skipped_with_a_reason(tmp_path):
    store = _write_store(tmp_path, extras=False)
    meta = metadata(_report(tmp_path), REPORT)
    assert sorted(_images(meta)) == ["crps_by_lead", "spread_skill_by_lead"]
    skipped = meta["skipped"]
    assert sorted(skipped) == sorted(set(ALL_FIGURES) - {"crps_by_lead", "spread_skill_by_lead"})
    assert skipped["bias_maps"] == "no verification_summary/bias_maps.parquet in the store"
    assert skipped["rank_histograms"] == (
        "no verification_summary/inits.json (a summary of an older version): rematerialise "
        "verification_summary")
    assert "inits.json" in skipped["example_members"]
    for quantile in EVENT_QUANTILES:
        assert "reliability.parquet" in skipped[f"reliability_q{round(quantile * 100):02d}"]
    page = store.read_bytes(REPORT, "report.html").decode()
    assert "Skipped figures" in page and "bias_maps.parquet" in page
    assert not store.exists_bytes(REPORT, "bias_maps.png")


def test_a_lead_the_tables_lack_skips_the_single_lead_figures(tmp_path):
    _write_store(tmp_path, emulated_models=["gee", "gpp"])
    meta = metadata(_report(tmp_path, ReportConfig(lead_days=7.0)), REPORT)
    assert sorted(_images(meta)) == ["coherence_by_lead_pair", "crps_by_lead",
                                     "energy_score_by_lead", "latitude_coherence_by_lead",
                                     "perfect_model_crps_over_ideal",
                                     "spread_skill_by_lead", "variable_correlation_by_lead",
                                     "variance_ratio_by_band"]
    assert meta["skipped"]["power_ratio"] == "power_ratio: no rows at lead 7 days"
    assert meta["skipped"]["bias_maps"] == "bias_maps: no rows at lead 7 days"
    assert "no lead 7 days" in meta["skipped"]["example_members"]


def test_without_the_summary_the_report_fails_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="verification_summary/table.parquet"):
        _report(tmp_path)


def test_an_unknown_example_variable_is_refused(tmp_path):
    _write_store(tmp_path, extras=False)
    with pytest.raises(ValueError, match="example_variable 'q700'"):
        _report(tmp_path, ReportConfig(example_variable="q700"))



def test_a_summary_scored_before_the_standard_crps_skips_the_crps_figure(tmp_path):
    """An older pooled summary has no crps_standard column: the CRPS figure is skipped, naming
    it, and the rest of the report is drawn."""
    store = _write_store(tmp_path, extras=False)
    store.write_table(synthetic.summary().drop(columns="crps_standard"), "verification_summary")
    meta = metadata(_report(tmp_path), REPORT)
    assert sorted(_images(meta)) == ["spread_skill_by_lead"]
    assert meta["skipped"]["crps_by_lead"] == (
        "lead_time_scores: table has no column(s) ['crps_standard']")
    page = store.read_bytes(REPORT, "report.html").decode()
    assert "CRPS (fair)" in page and "CRPS (standard)" not in page
