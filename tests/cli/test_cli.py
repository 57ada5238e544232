"""`seeds-dag` on the tiny experiment (the session's `tiny_graph`): `emulate` writes what the
ensembles asset writes from the same inputs and settings (members and provenance), with the seeds
as given, and refuses a forecast the model was not trained for by name, writing nothing; `score`
writes the tables the verification asset writes and the report; `report` prints the page;
`run` hands its flags to the main job's own parser."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
import webbrowser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from tiny_experiment import N_EMULATED, OPERATIONAL_INIT, SOURCE

from assets import main_job
from assets.model_files import FRAME, POST_PROCESSOR
from assets.object_names import EXTREMES, REPORT, REPORT_PAGE, SUMMARY_TEXT
from seeds_dag.conventions import VARIABLES
from seeds_dag.emulated_ensemble import EnsembleProvenance
from seeds_dag.store import ArtifactStore
from seeds_dag.store.objects import TABLE
from seeds_dag.store.strings import with_specified_strings
from seeds_dag.verification.climatology import climatology_of
from seeds_dag_cli.emulate import OUTPUT_ASSET
from seeds_dag_cli.main import main
from seeds_dag_cli.score import checked_inputs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def report_as_a_module(tmp_path_factory: pytest.TempPathFactory):
    """(storage root without a report, finished process) of `python -m seeds_dag_cli report` on that
    root. Its interpreter loads torch and the CLI (about 9 s on one core), so it starts as the
    module begins and runs on the second core beside the module's other tests."""
    root = tmp_path_factory.mktemp("root_without_a_report")
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen([sys.executable, "-m", "seeds_dag_cli", "report", "--storage-root", str(root)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=root)
    yield root, process
    process.kill()
    process.communicate()


def _forecast_folder(tiny_graph) -> str:
    return str(tiny_graph.root / "operational_ensemble" / OPERATIONAL_INIT)


def _model_files(tiny_graph) -> list[str]:
    return ["--storage-root", str(tiny_graph.root),
            "--post-processor", str(tiny_graph.root / POST_PROCESSOR / "_all" / FRAME)]


def test_emulate_writes_what_the_ensembles_asset_writes(tiny_graph, tmp_path):
    """The asset's settings (N, seeds 0 and 1, sampling seed 0, the batch size of the tiny
    compute resource) give the asset's members and provenance: one loop and one provenance."""
    out = tmp_path / "out"
    assert main(["emulate", _forecast_folder(tiny_graph), "--out", str(out), "-n", str(N_EMULATED),
                 "--seeds", "0", "1", "--batch-size", "4", "--device", "cpu", *_model_files(tiny_graph)]) == 0
    written = ArtifactStore(str(out)).load_dataset(OUTPUT_ASSET, OPERATIONAL_INIT)
    pipeline = tiny_graph.store.load_dataset("daily_emulated_ensembles", OPERATIONAL_INIT)
    assert EnsembleProvenance.of(written, "cli") == EnsembleProvenance.of(pipeline, "asset")
    assert list(written["model"].values) == ["gee", "gpp"] and written.sizes["member"] == N_EMULATED
    xr.testing.assert_allclose(written, pipeline, rtol=1e-5, atol=0)


def test_emulate_takes_the_seeds_as_given_by_label(tiny_graph, tmp_path, capsys):
    forecast = tiny_graph.store.load_dataset("operational_ensemble", OPERATIONAL_INIT)
    labels = [f"p{m:02d}" for m in range(forecast.sizes["member"])]
    relabelled = forecast.assign_coords(member=np.array(labels, dtype=object))
    relabelled.to_zarr(tmp_path / "forecast.zarr", consolidated=False)
    out = tmp_path / "out"
    assert main(["emulate", str(tmp_path / "forecast.zarr"), "--out", str(out), "-n", "3", "--seeds", "p04",
                 "p02", "--batch-size", "2", "--device", "cpu", "--storage-root", str(tiny_graph.root)]) == 0
    written = ArtifactStore(str(out)).load_dataset(OUTPUT_ASSET, OPERATIONAL_INIT)
    provenance = EnsembleProvenance.of(written, "cli")
    assert provenance.seed_members == (4, 2) and provenance.n_members == 3
    assert list(written["model"].values) == ["gee"] and written.sizes["member"] == 3
    assert str(out / OUTPUT_ASSET / OPERATIONAL_INIT) in capsys.readouterr().out


def test_emulate_reads_gefs_grib2_through_the_archive_reader(tiny_graph, tmp_path, s3_server, s3_writer):
    """--gefs: GEFS operational GRIB2 (a local S3 holding messages encoded as NCEP encodes them) read
    at the model's leads, the seeds named as GEFS names them; the members are those emulated from
    the same forecast read by the archive reader and given as a zarr."""
    from archive_fakes import archive_at, write_gefs

    from seeds_dag.conventions import OutputGrid
    from seeds_dag.sources.archive.gefs import OPERATIONAL, gefs_forecast
    from seeds_dag.sources.archive.variables import CORE_VARIABLES

    write_gefs(s3_writer, OPERATIONAL, pd.Timestamp(OPERATIONAL_INIT), [0, 1, 2], [24, 48], CORE_VARIABLES)
    common = ["-n", "2", "--device", "cpu", "--storage-root", str(tiny_graph.root)]
    assert main(["emulate", "--gefs", OPERATIONAL_INIT, "--gefs-endpoint", s3_server, "--seeds", "c00", "p02",
                 "--out", str(tmp_path / "gefs"), *common]) == 0
    gefs_forecast(archive_at(OPERATIONAL, s3_server), OPERATIONAL_INIT, [0, 1, 2], [1, 2],
                  OutputGrid()).to_zarr(tmp_path / "read.zarr", consolidated=False)
    assert main(["emulate", str(tmp_path / "read.zarr"), "--seeds", "0", "2", "--out", str(tmp_path / "zarr"),
                 *common]) == 0
    from_gefs = ArtifactStore(str(tmp_path / "gefs")).load_dataset(OUTPUT_ASSET, OPERATIONAL_INIT)
    from_zarr = ArtifactStore(str(tmp_path / "zarr")).load_dataset(OUTPUT_ASSET, OPERATIONAL_INIT)
    assert EnsembleProvenance.of(from_gefs, "gefs").seed_members == (0, 2)
    xr.testing.assert_identical(from_gefs, from_zarr)


@pytest.mark.parametrize("change, said", [
    (lambda ds: ds.drop_vars("sp"), "variable 'sp' is missing"),
    (lambda ds: ds.isel(lead_time=[0]), "generates trajectories at lead days [1.0, 2.0], asked for [1.0]"),
    (lambda ds: ds.isel(lat=slice(None, None, 2), lon=slice(None, None, 2)),
     "trained on a (lat, lon) grid of (32, 64), got (16, 32)"),
], ids=["variable", "leads", "grid"])
def test_emulate_refuses_a_forecast_the_model_was_not_trained_for(tiny_graph, tmp_path, capsys, change, said):
    path = tmp_path / "forecast.zarr"
    forecast = tiny_graph.store.load_dataset("operational_ensemble", OPERATIONAL_INIT)
    change(forecast).to_zarr(path, consolidated=False)
    out = tmp_path / "out"
    assert main(["emulate", str(path), "--out", str(out), "-n", "2", "--device", "cpu",
                 *_model_files(tiny_graph)]) == 1
    error = capsys.readouterr().err
    assert said in error and str(path) in error, error
    assert not out.exists(), "nothing is written for a refused forecast"


def test_score_writes_the_tables_the_asset_writes_and_the_report(tiny_graph, tmp_path, capsys):
    root, out = tiny_graph.root, tmp_path / "scored"
    assert main(["score", "--ensemble", str(root / "daily_emulated_ensembles" / OPERATIONAL_INIT),
                 "--forecast", _forecast_folder(tiny_graph), "--truth", str(root / "truth" / "_all"),
                 "--climatology", str(root / "climatology" / "_all"), "--out", str(out)]) == 0
    scored, pipeline = ArtifactStore(str(out)), tiny_graph.store
    for table in (TABLE, EXTREMES):
        assert scored.read_table("verification_scores", OPERATIONAL_INIT, table).equals(
            pipeline.read_table("verification_scores", OPERATIONAL_INIT, table)), table
    assert "CRPS" in scored.read_bytes("verification_summary", SUMMARY_TEXT).decode()
    page = scored.read_bytes(REPORT, REPORT_PAGE).decode()
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert f"{scored.location(REPORT)}/{REPORT_PAGE}" in capsys.readouterr().out


def test_score_refuses_an_ensemble_of_another_forecast(tiny_graph, tmp_path, capsys):
    root, out = tiny_graph.root, tmp_path / "scored"
    shorter = tiny_graph.store.load_dataset("daily_emulated_ensembles", OPERATIONAL_INIT).isel(lead_time=[1])
    with_specified_strings(shorter).to_zarr(tmp_path / "ensemble.zarr", consolidated=False)
    assert main(["score", "--ensemble", str(tmp_path / "ensemble.zarr"),
                 "--forecast", _forecast_folder(tiny_graph), "--truth", str(root / "truth" / "_all"),
                 "--out", str(out)]) == 1
    assert f"the ensemble {tmp_path / 'ensemble.zarr'}: lead_time" in capsys.readouterr().err
    assert not out.exists()


def test_score_refuses_a_main_jobs_storage_root_as_out(tiny_graph, capsys):
    """The inputs are written into OUT as the pipeline's truth and forecasts: never over a main job's."""
    root = tiny_graph.root
    before = sorted(p.name for p in (root / "truth" / "_all").iterdir())
    assert main(["score", "--ensemble", str(root / "daily_emulated_ensembles" / OPERATIONAL_INIT),
                 "--forecast", _forecast_folder(tiny_graph), "--truth", str(root / "truth" / "_all"),
                 "--out", str(root)]) == 1
    assert f"--out {root} holds trained_emulator" in capsys.readouterr().err
    assert sorted(p.name for p in (root / "truth" / "_all").iterdir()) == before


def test_score_without_a_climatology_computes_it_from_the_truth(tiny_graph, capsys):
    root = tiny_graph.root
    args = argparse.Namespace(ensemble=str(root / "daily_emulated_ensembles" / OPERATIONAL_INIT),
                              forecast=_forecast_folder(tiny_graph), truth=str(root / "truth" / "_all"),
                              climatology=None)
    init, inputs = checked_inputs(args)
    truth = tiny_graph.store.load_dataset("truth")
    assert init == OPERATIONAL_INIT
    # The whole truth, not a window of it (the asset's), and a warning that 6 days are few.
    xr.testing.assert_identical(inputs["climatology"], climatology_of(truth[list(VARIABLES)]))
    assert f"the climatology from {truth.sizes['time']} days of {args.truth}" in capsys.readouterr().err


def test_the_climatology_of_a_truth_window_is_the_assets(tiny_graph):
    """`score` without --climatology computes it with the asset's function; over the asset's
    window (the training reforecasts' valid times) it is the stored climatology."""
    stored = tiny_graph.store.load_dataset("climatology")
    truth = tiny_graph.store.load_dataset("truth")[list(stored.data_vars)]
    window = truth.sel(time=slice(SOURCE.reforecast_start, stored.attrs["window"].split(" .. ")[1]))
    computed = climatology_of(window)
    xr.testing.assert_allclose(computed, stored)
    assert computed.attrs == stored.attrs


def test_report_prints_the_page_and_opens_it(tiny_graph, monkeypatch, capsys):
    opened = []
    monkeypatch.setattr(webbrowser, "open", opened.append)
    assert main(["report", "--storage-root", str(tiny_graph.root), "--open"]) == 0
    page = Path(capsys.readouterr().out.strip())
    assert page.name == REPORT_PAGE and page.is_file() and opened == [page.as_uri()]


def test_report_as_a_module_refuses_a_root_without_one(report_as_a_module):
    """`python -m seeds_dag_cli`, as the console script runs it: a refusal naming the root, exit 1."""
    root, process = report_as_a_module
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1 and f"no {REPORT}/{REPORT_PAGE} under {root}" in stderr


def test_run_passes_its_flags_to_the_main_job(monkeypatch):
    calls = []
    monkeypatch.setattr(main_job, "main", lambda argv, prog: calls.append((argv, prog)))
    assert main(["run", "--quick", "--storage-root", "elsewhere", "--lanes", "1"]) == 0
    assert calls == [(["--quick", "--storage-root", "elsewhere", "--lanes", "1"], "seeds-dag run")]


def test_run_help_is_the_main_jobs(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["run", "--help"])
    said = capsys.readouterr().out
    assert stopped.value.code == 0 and said.startswith("usage: seeds-dag run") and "--quick" in said
    with pytest.raises(SystemExit) as refused:
        main(["run", "--no-such-flag"])
    assert refused.value.code == 2 and "--no-such-flag" in capsys.readouterr().err


def test_the_console_script_is_the_cli():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["seeds-dag"].split(":")
    assert f"{module}.{function}" == f"{main.__module__}.{main.__name__}"
