"""Declarative automation in `dagster dev` (webserver and daemon), as a person sees it: after one
manual launch of the daily job for a new init, the daemon's `follow_dependencies` sensor
materialises the verification summary and report on its own, and the UI shows that run as the
sensor's and charts the scores' numeric metadata across both inits.

The instance (a temporary DAGSTER_HOME) starts with the tiny experiment (tests/assets/
tiny_experiment.py, the session's `tiny_graph`) copied into a temporary storage root and recorded
as its runs recorded it, metadata included: everything up to the scores of the first operational
init, the summary pooling that one init, and the report. Its nature run is rerun one day longer
(TRUTH_DAYS) so that a second init can be verified. Screenshots go where dagster_ui puts them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey, AssetMaterialization, DagsterInstance, MetadataValue, PathMetadataValue, RunConfig, TextMetadataValue
from dagster_ui import browser_page, graphql, requires_chromium, served, wait_for, wait_for_success, write_instance_config
from tiny_experiment import COMPUTE, EMULATION, GRAPH_STEPS, OPERATIONAL_INIT, SOURCE_SETTINGS, TinyGraph, copy_artifacts, materialise, tiny_source

from assets.automation import SENSOR
from assets.main_job import operational_dates
from assets.report import REPORT
from assets.verification import SCORES, SUMMARY

pytestmark = requires_chromium

TRUTH_DAYS = SOURCE_SETTINGS["truth_days"] + 1
"""One day of nature run more than the tiny experiment's: its inits' leads reach one day further,
so a second operational init can be verified."""
SOURCE = tiny_source(truth_days=TRUTH_DAYS)
FIRST, NEW = operational_dates(SOURCE, 2)
JOB = "daily_emulation"
RUN_CONFIG = RunConfig(ops={"daily_emulated_ensembles": EMULATION},
                       resources={"source": SOURCE, "compute": COMPUTE}).to_config_dict()
