"""Partitions of the graph: one partition per initialisation date."""

from dagster import DailyPartitionsDefinition

from seeds_dag.conventions import EXPERIMENT_START

init_dates = DailyPartitionsDefinition(start_date=EXPERIMENT_START)
