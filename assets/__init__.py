"""Dagster assets of seeds-dag: thin layers that read inputs, call seeds_dag, write, and report."""
