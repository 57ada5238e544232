"""`python -m seeds_dag_cli …`, the same as the `seeds-dag` console script."""

from seeds_dag_cli.main import main

# Guarded: the main job's worker processes (spawn) import the parent's __main__ again.
if __name__ == "__main__":
    raise SystemExit(main())
