"""Retrain a model of a finished main job with other settings, and score it on the same physics.

    .venv/bin/python -m benchmarks.model_variant --from data --to data/variants/spectral \\
        --set crps_spectral_weight=1 --set crps_variable_pair_weight=1 [--set seed=1 ...] \\
        [--model post_processor]

Copies the main job's storage root `--from` to `--to` (the physics, the statistics and both
models; nothing under `--from` changes), re-materialises the `--model` asset there
(`trained_emulator` by default, or `post_processor`) with the fields of its training config
given by `--set` (every other field at its default), then the emulated ensembles and scores of
the main job's operational inits and the summary, through the same Dagster definitions as the
main job; prints the summary. A retrained emulator has the post-processor refitted to its
members (its default config: the frame, about 10 s), since a frame answers only for the
emulator version it was fitted to; a retrained post-processor reuses the main job's emulator. The rows of
the second-round table of docs/benchmarks.md on the crps generator were run this way: about 5 minutes a
variant on 2 cores at 800 steps.
"""

import argparse
import shutil
from pathlib import Path

from assets.ensembles import EmulationConfig
from assets.main_job import DEFAULT_OPERATIONAL_INITS, dagster_home, materialize_one, operational_dates
from assets.model_files import EMULATOR, POST_PROCESSOR
from assets.training import EmulatorTrainingConfig, PostProcessorTrainingConfig
from resources import ComputeResource, SourceResource, StorageResource

RESCORED = ("daily_emulated_ensembles", "verification_scores")
CONFIGS = {EMULATOR: EmulatorTrainingConfig, POST_PROCESSOR: PostProcessorTrainingConfig}
"""The models a variant may retrain, and the training config of each."""


def parse_settings(pairs: list[str], model: str = EMULATOR) -> EmulatorTrainingConfig:
    """`field=value` pairs -> the training config of `model` (a key of CONFIGS), values parsed as
    its fields' types (pydantic), an unknown field or a bad value refused by name."""
    config = CONFIGS[model]
    settings = {}
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set takes field=value, got {pair!r}")
        if field not in config.model_fields:
            raise SystemExit(f"--set {field}: not a field of {config.__name__} ({', '.join(config.model_fields)})")
        settings[field] = value.split(",") if field in ("channels", "seed_counts") else value
    return config(**settings)


def variant_steps(model: str, operational_keys: list[str]) -> list[tuple[str, str | None]]:
    """The (asset, partition key) materialisations of a variant of `model`, in order: the model,
    the post-processor after a retrained emulator (its frame is tied to the emulator version), the
    emulated ensembles and scores of each operational init, the summary."""
    models = [EMULATOR, POST_PROCESSOR] if model == EMULATOR else [model]
    return ([(name, None) for name in models] + [(name, key) for key in operational_keys for name in RESCORED]
            + [("verification_summary", None)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source_root", type=Path, required=True,
                        help="storage root of a finished main job")
    parser.add_argument("--to", dest="root", type=Path, required=True, help="a new storage root for the variant")
    parser.add_argument("--model", choices=list(CONFIGS), default=EMULATOR, help="the model to retrain")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="FIELD=VALUE",
                        help="a field of the model's training config (repeat for more)")
    parser.add_argument("--operational-inits", type=int, default=DEFAULT_OPERATIONAL_INITS)
    args = parser.parse_args()
    config = parse_settings(args.settings, args.model)
    if args.root.exists():
        raise SystemExit(f"--to {args.root} exists; give a new folder so no earlier variant is overwritten")
    if not (args.source_root / args.model).is_dir():
        raise SystemExit(f"--from {args.source_root} holds no {args.model}: run the main job there first")
    shutil.copytree(args.source_root, args.root)
    dagster_home(args.root / ".dagster_home")

    source, storage = SourceResource(), StorageResource(root=str(args.root))
    # As the main job hands them to `materialize_one`: each resource's class and settings.
    resources = {key: (type(resource), resource.model_dump())
                 for key, resource in {"storage": storage, "compute": ComputeResource(), "source": source}.items()}
    op_configs = {EMULATOR: EmulatorTrainingConfig(), POST_PROCESSOR: PostProcessorTrainingConfig(),
                  args.model: config, "daily_emulated_ensembles": EmulationConfig()}
    print(f"{args.model} variant at {args.root}: {', '.join(args.settings) or 'defaults'}", flush=True)
    for name, key in variant_steps(args.model, operational_dates(source, args.operational_inits)):
        seconds = materialize_one(name, key, resources, op_configs, "INFO")
        print(f"  {name:<28} {key or '':<11} {seconds:7.1f} s", flush=True)
    print(storage.store().read_bytes("verification_summary", "summary.txt").decode())


if __name__ == "__main__":
    main()
