"""`seeds-dag`: the command-line tool for the work people do without the Dagster UI: run the main
job, emulate an ensemble from a forecast of one's own with a trained model, score an ensemble
against a truth, find the report (`main.py` dispatches, one module per command).

A package of its own beside `seeds_dag`, `assets` and `resources` rather than inside `seeds_dag`,
because two commands are the Dagster layer's own work: `run` calls the main job's `main` (its one
argument parser, in the same process), and `score` materialises the verification assets
themselves into the user's storage root, so its tables and report are the pipeline's by
construction rather than a second copy of the asset bodies. `seeds_dag` imports no Dagster; this
package may. `emulate` and `report` use `seeds_dag` and the resources' defaults only.
"""
