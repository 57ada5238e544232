"""Partitions of the graph: one partition per initialisation date."""

from dagster import DailyPartitionsDefinition

# The embedded nature run starts on 2000-01-01; real GEFS reforecasts start in 2000 too.
init_dates = DailyPartitionsDefinition(start_date="2000-01-01")
