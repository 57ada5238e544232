"""Skill benchmark (issues 3, 4, 13 and 14): do K seeds + the emulator match the 31-member physics
ensemble, which generator does it at what cost, and what do K = 1…4 seeds buy?

Trains the emulator (SEEDS-GEE) with every generator named in --generators (the one-pass CRPS
generator, the consistency model, the EDM diffusion model of SEEDS) and post-processors (SEEDS-GPP:
the post-processing frame around the first generator's emulator, `gpp-frame`, the main job's
default, and generators trained with the truth as the target with probability p, with
--gpp-generator) on a reforecast of a few hundred
inits × 5 members (leads 1, 3, 5, 7, 10, 15 days), runs the EDM sampler study on a subset of the
held-out operational inits, then scores on every held-out init: the 2 seeds alone, the 31-member
physics ensemble, the ideal emulation of the seeds (their information bound), the oracle
post-processing of the seeds (GPP's reference), each GEE with N = 31 and N = 128 (the first 31 of
the 128: members are independent draws) and GPP-31, per variable and lead, with the fair and the
standard CRPS, the energy score over the variables and the cross-variable correlation of member
deviations. The seed-count study (--seed-counts) trains a GEE of the first generator for every K
and scores it on several disjoint seed sets (--seed-sets) of every init against ideal-K and the K
seeds. Prints the tables, the targets and the generator choice (the cheapest within 1% of the
best fair CRPS), and writes them under --out. Every stage is cached under --root: physics data,
checkpoints, sampled ensembles.

    python -m benchmarks.skill                     # the full benchmark (docs/benchmarks.md: timings)
    python -m benchmarks.skill --tiny              # a few minutes' smoke run of every stage
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.experiment_data import ExperimentCalendar, open_forecasts, prepare
from benchmarks.skill_models import ModelSpec, train_model, training_arrays
from benchmarks.skill_sampling import SamplerTrial, emulate_all, fastest_within, sampler_study, sampler_trials
from benchmarks.skill_scores import (
    SEED_MEMBERS,
    extremes_target_table,
    generator_choice,
    score_ensembles,
    spectra_ratios,
    target_table,
)
from benchmarks.skill_seeds import seed_count_table, seed_set_scores
from seeds_dag.conventions import VARIABLES
from seeds_dag.emulation import SamplerConfig
from seeds_dag.generators.kinds import GENERATORS, CRPSConfig, Objective, kind_of
from seeds_dag.generators.recipes import (
    CRPS_FINETUNE_STEPS,
    DEFAULT_GENERATOR,
    POST_PROCESSOR_GENERATOR,
    POST_PROCESSOR_TRUTH_PROBABILITY,
    generator_objective,
)
from seeds_dag.generators.sampling import nfe
from seeds_dag.model_file import model_version
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.normalization import compute_normalization
from seeds_dag.post_processing import FRAME_MEMBERS, FRAME_SEED_SETS, fit_frame_to_emulator
from seeds_dag.seed_anomalies import seed_spread
from seeds_dag.sources.embedded.config import PerturbationConfig
from seeds_dag.sources.embedded.source import EmbeddedSourceConfig
from seeds_dag.store import ArtifactStore
from seeds_dag.training import TrainingConfig
from seeds_dag.truth_alignment import align_truth
from seeds_dag.verification.extremes import climatological_thresholds
from seeds_dag.verification.spectra_table import MAX_RATIO_WAVENUMBER
from seeds_dag.verification.multivariate import climatological_scale
from seeds_dag.verification.seed_sets import disjoint_seed_sets, fit_post_processing_oracle

TINY_SOURCE = EmbeddedSourceConfig(spinup_days=12, pool_days=4, perturbation=PerturbationConfig(gap_days=2))


BENCHMARKED_GENERATORS = (DEFAULT_GENERATOR, *(kind for kind in GENERATORS if kind != DEFAULT_GENERATOR))
"""Every generator, the one that ships first."""
GPP_FRAME = "gpp-frame"
"""The post-processing frame around the first generator's emulator (the post_processor asset's default)."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("data/benchmarks/skill"))
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/skill/results"))
    parser.add_argument("--reforecast-inits", type=int, default=ExperimentCalendar.reforecast_inits)
    parser.add_argument("--operational-inits", type=int, default=ExperimentCalendar.operational_inits)
    parser.add_argument("--held-out-inits", type=int, default=None,
                        help="score on the first so many operational inits only (their physics alone is "
                        "made); default: all --operational-inits")
    parser.add_argument("--channels", default=",".join(map(str, DenoiserConfig.channels)))
    parser.add_argument("--train-steps", type=int, default=2500)
    parser.add_argument("--gpp-steps", type=int, default=2500)
    parser.add_argument("--train-batch", type=int, default=TrainingConfig.batch_size,
                        help="network samples a step, as the compute resource's train_batch_size")
    parser.add_argument("--learning-rate", type=float, default=TrainingConfig.learning_rate)
    parser.add_argument("--validation-inits", type=int, default=TrainingConfig.validation_inits,
                        help="the last reforecast inits held out of training; the weights of the best "
                             "validation score are each model's (seeds_dag.validation)")
    parser.add_argument("--weight-decay", type=float, default=TrainingConfig.weight_decay,
                        help="AdamW's decoupled decay of the weight matrices (TrainingConfig.weight_decay)")
    parser.add_argument("--seed-mean-shrinkage", action=argparse.BooleanOptionalAction,
                        default=DenoiserConfig.seed_mean_shrinkage,
                        help="the crps generator's members about the seeds' mean shrunk towards the climate "
                             "(DenoiserConfig.seed_mean_shrinkage; --no-seed-mean-shrinkage for runs before it)")
    parser.add_argument("--generators", default=",".join(BENCHMARKED_GENERATORS),
                        help=f"comma-separated generators of GEE, of {list(GENERATORS)}; the first one's "
                        "emulator is the one the frame is fitted to and the seed-count study trains")
    parser.add_argument("--gpp-generator", default=POST_PROCESSOR_GENERATOR, choices=GENERATORS)
    parser.add_argument("--crps-finetune-steps", type=int, default=CRPS_FINETUNE_STEPS,
                        help="the consistency generator's final steps of afCRPS fine-tuning")
    parser.add_argument("--crps-variable-pair-weight", type=float, default=CRPSConfig.variable_pair_weight,
                        help="weight of the crps generator's afCRPS of variable pairs (CRPSConfig)")
    parser.add_argument("--crps-spectral-weight", type=float, default=CRPSConfig.spectral_weight,
                        help="weight of the crps generator's afCRPS of zonal Fourier coefficients (CRPSConfig)")
    parser.add_argument("--gpp-probabilities", default=str(POST_PROCESSOR_TRUTH_PROBABILITY),
                        help="comma-separated p of the post-processors trained as generators; empty: none")
    parser.add_argument("--gpp-frame", action=argparse.BooleanOptionalAction, default=True,
                        help="score the post-processing frame around the first generator's emulator "
                        "(`gpp-frame`, the post_processor asset's default)")
    parser.add_argument("--members", type=int, default=128)
    parser.add_argument("--seed-counts", default="1,2,3,4",
                        help="K values of the seed-count study (a GEE of the first generator trained per K; "
                        "empty: no study)")
    parser.add_argument("--seed-sets", type=int, default=4,
                        help="disjoint seed sets per K that every seed-K score is averaged over")
    parser.add_argument("--seed-study-members", type=int, default=32,
                        help="members emulated from each seed set in the seed-count study")
    parser.add_argument("--emulation-inits", type=int, default=0,
                        help="sample the emulated ensembles for only every k-th held-out init so that "
                        "they number this many (0: all)")
    parser.add_argument("--gpp-members", type=int, default=31)
    parser.add_argument("--sampler-inits", type=int, default=8)
    parser.add_argument("--sampler-members", type=int, default=16)
    parser.add_argument("--sampler-steps", default="2,4,8,16")
    parser.add_argument("--churn-per-step", type=float, default=0.2)
    parser.add_argument("--sampler-sigma-max", default="80,10",
                        help="schedule tops to try (the first also with churn)")
    parser.add_argument("--sample-batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes for every stage")
    parser.add_argument("--train-only", default=None,
                        help="train just these models (comma-separated, e.g. gee,gpp-p1.0) and stop: "
                        "models train in parallel processes of one thread each, then a full run reuses them")
    args = parser.parse_args()
    if args.tiny:
        args.reforecast_inits, args.operational_inits, args.train_steps, args.gpp_steps = 6, 3, 30, 20
        args.members, args.gpp_members, args.sampler_inits, args.sampler_members = 8, 4, 2, 4
        args.sampler_steps, args.train_batch, args.crps_finetune_steps = "2,4", 8, 10
        args.seed_sets, args.seed_study_members = 1, 4
    return args


def model_specs(args: argparse.Namespace, num_leads: int) -> tuple[list[ModelSpec], dict[int, ModelSpec]]:
    """The models to train: a GEE of every generator and the GPPs of every p, then the seed-count
    study's GEE of the first generator by K. Their objectives come from `generator_objective` and
    their EMA and learning-rate schedule from `TrainingConfig`, as the training assets' do; with
    the default flags a model is what the asset trains with the same number of steps."""
    denoiser = DenoiserConfig(channels=tuple(int(c) for c in args.channels.split(",")), num_leads=num_leads,
                              seed_mean_shrinkage=args.seed_mean_shrinkage)
    training = TrainingConfig(steps=args.train_steps, batch_size=args.train_batch, learning_rate=args.learning_rate,
                              checkpoint_every=250, validation_inits=args.validation_inits,
                              weight_decay=args.weight_decay)

    def objective(kind: str, steps: int) -> Objective:
        return generator_objective(kind, steps, crps_finetune_steps=args.crps_finetune_steps,
                                   crps_variable_pair_weight=args.crps_variable_pair_weight,
                                   crps_spectral_weight=args.crps_spectral_weight)

    generators = args.generators.split(",")
    specs = [ModelSpec(f"gee-{kind}", denoiser, objective(kind, args.train_steps), training)
             for kind in generators] + [
        ModelSpec(f"gpp-{args.gpp_generator}-p{p}", denoiser, objective(args.gpp_generator, args.gpp_steps),
                  dataclasses.replace(training, steps=args.gpp_steps, truth_probability=float(p)))
        for p in filter(None, args.gpp_probabilities.split(","))
    ]
    seed_counts = [int(k) for k in filter(None, args.seed_counts.split(","))]
    # The study's GEE of K = 2 is the main one; every other K trains its own.
    seed_specs = {k: ModelSpec(f"gee-{generators[0]}" + ("" if k == 2 else f"-k{k}"), denoiser,
                               objective(generators[0], args.train_steps),
                               dataclasses.replace(training, seed_counts=(k,)))
                  for k in seed_counts}
    return specs, seed_specs


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    timings: dict[str, float] = {}
    store = ArtifactStore(str(args.root))
    calendar = ExperimentCalendar(reforecast_inits=args.reforecast_inits, operational_inits=args.operational_inits)
    if args.tiny:
        calendar = dataclasses.replace(calendar, operational_members=6, base=TINY_SOURCE)
    config = calendar.source_config()
    timings.update(prepare(store, calendar, ensembles=("reforecast",) if args.train_only else
                           ("reforecast", "operational"), held_out=args.held_out_inits))

    start = time.perf_counter()
    truth = store.load_dataset("truth")
    reforecast = open_forecasts(store, "reforecast", calendar.reforecast_dates(config)).load()
    stats = compute_normalization(reforecast[list(VARIABLES)])
    arrays = training_arrays(reforecast, truth, stats)
    lead_days = reforecast["lead_time"].values / np.timedelta64(1, "D")
    spread = seed_spread(stats, list(VARIABLES), reforecast["lead_time"].values)
    lat, lon = reforecast["lat"].values, reforecast["lon"].values
    timings["load_s"] = time.perf_counter() - start
    data_id = f"skill benchmark {calendar}"

    generators = args.generators.split(",")
    specs, seed_specs = model_specs(args, len(lead_days))
    models_dir = args.root / "models"
    trained, versions, train_rows = {}, {}, []
    to_train = specs + [spec for spec in seed_specs.values() if spec.name not in {s.name for s in specs}]
    if args.train_only:
        to_train = [spec for spec in to_train if spec.name in args.train_only.split(",")]
    for spec in to_train:
        print(f"training {spec.name}", flush=True)
        trained[spec.name], summary = train_model(spec, arrays, lead_days, spread, lat, lon, models_dir, device,
                                                  data_id)
        versions[spec.name] = summary["model_version"]
        train_rows.append(summary)
    if args.train_only:
        print(pd.DataFrame(train_rows).to_string(index=False))
        return

    ops_dates = calendar.operational_dates(config)[:args.held_out_inits]
    operational = {f"{d:%Y-%m-%d}": store.load_dataset("operational", f"{d:%Y-%m-%d}") for d in ops_dates}
    truth_aligned = {k: align_truth(truth[list(VARIABLES)], f["init_time"].values, f["lead_time"].values).load()
                     for k, f in operational.items()}

    sampler = SamplerConfig()
    study = pd.DataFrame()
    if "gee-edm" in trained:
        print("sampler study (edm generator)", flush=True)
        subset = list(operational)[:: max(1, len(operational) // args.sampler_inits)][: args.sampler_inits]
        # Cached beside the models: rerunning to rescore does not repeat it (delete the file to redo it).
        study_file = models_dir / (f"sampler_study-{args.sampler_inits}x{args.sampler_members}-{args.sampler_steps}"
                                   f"-{args.sampler_sigma_max}.csv")
        if study_file.exists():
            study = pd.read_csv(study_file)
        else:
            trials = sampler_trials([int(s) for s in args.sampler_steps.split(",")],
                                    [float(s) for s in args.sampler_sigma_max.split(",")])
            study = sampler_study(trained["gee-edm"], {k: operational[k] for k in subset},
                                  {k: truth_aligned[k] for k in subset}, stats, args.sampler_members, trials,
                                  args.churn_per_step, args.sample_batch, device)
            study.to_csv(study_file, index=False)
        chosen = fastest_within(study)
        sampler = SamplerTrial(str(chosen["solver"]), int(chosen["num_steps"]), bool(chosen["stochastic"]),
                               float(chosen["sigma_max"])).config(args.churn_per_step)
        print(f"edm sampler chosen: {sampler} (NFE {sampler.nfe})", flush=True)

    evaluated = operational
    if args.emulation_inits:
        keys = list(operational)[:: max(1, len(operational) // args.emulation_inits)][: args.emulation_inits]
        evaluated = {k: operational[k] for k in keys}
    print(f"evaluating on {len(evaluated)} held-out inits", flush=True)
    sampling_rows = []
    tag = f"s{sampler.num_steps}c{sampler.S_churn:g}m{sampler.sigma_max:g}"
    names, nfes = {}, {}
    if args.gpp_frame:
        emulator = f"gee-{generators[0]}"
        start = time.perf_counter()
        frame = fit_frame_to_emulator(
            trained[emulator], arrays["data"], arrays["truth"], spread, lead_days, seed_count=len(SEED_MEMBERS),
            seed_sets=FRAME_SEED_SETS, n_members=FRAME_MEMBERS, emulator_version=versions[emulator],
            batch_size=args.sample_batch, device=device)
        timings["gpp_frame_fit_s"] = time.perf_counter() - start
        names[GPP_FRAME], nfes[GPP_FRAME] = f"{GPP_FRAME}-{args.gpp_members}", nfe(trained[emulator], sampler)
        row = emulate_all(store, names[GPP_FRAME], trained[emulator], model_version(frame.to_bytes()), evaluated,
                          stats, args.gpp_members, sampler, args.sample_batch, device, frame=frame)
        sampling_rows.append({**row, "nfe_per_member": nfes[GPP_FRAME]})
    for spec in specs:
        n_members = args.members if spec.name.startswith("gee") else args.gpp_members
        # The sampler tag matters to the edm generator only; the stored name records it there.
        suffix = f"-{tag}" if kind_of(spec.objective) == "edm" else ""
        names[spec.name] = f"{spec.name}-{n_members}{suffix}"
        nfes[spec.name] = nfe(trained[spec.name], sampler)
        row = emulate_all(store, names[spec.name], trained[spec.name], versions[spec.name], evaluated, stats,
                          n_members, sampler, args.sample_batch, device)
        sampling_rows.append({**row, "nfe_per_member": nfes[spec.name]})

    start = time.perf_counter()
    # Extremes are exceedances of the truth's climate over the training period (the reforecast's valid times).
    training_period = truth.sel(time=slice(reforecast["init_time"].values[0],
                                           reforecast["init_time"].values[-1] + reforecast["lead_time"].values[-1]))
    thresholds = climatological_thresholds(training_period[list(VARIABLES)])
    scale = climatological_scale(training_period[list(VARIABLES)])
    oracle = fit_post_processing_oracle({k: f[list(VARIABLES)] for k, f in evaluated.items()},
                                        {k: truth_aligned[k] for k in evaluated}, SEED_MEMBERS)
    scores = score_ensembles(store, evaluated, truth_aligned, names, args.members, args.gpp_members, thresholds,
                             scale, oracle)
    timings["scoring_s"] = time.perf_counter() - start
    scores["generator choice"] = generator_choice(scores, nfes, args.members)
    if seed_specs:
        print(f"seed-count study: K = {sorted(seed_specs)}, {args.seed_sets} disjoint seed sets each", flush=True)
        start = time.perf_counter()
        seed_names, sets = {}, {}
        for k, spec in seed_specs.items():
            for index, seeds in enumerate(disjoint_seed_sets(config.operational_members, k, args.seed_sets)):
                suffix = f"-{tag}" if kind_of(spec.objective) == "edm" else ""
                seed_names[(k, index)] = f"{spec.name}-{args.seed_study_members}{suffix}-seeds{'_'.join(map(str, seeds))}"
                sets[(k, index)] = seeds
                emulate_all(store, seed_names[(k, index)], trained[spec.name], versions[spec.name], evaluated, stats,
                            args.seed_study_members, sampler, args.sample_batch, device, seeds)
        timings["seed_study_sampling_s"] = time.perf_counter() - start
        start = time.perf_counter()
        per_set = seed_set_scores(store, evaluated, truth_aligned, seed_names, sets, scale)
        args.out.mkdir(parents=True, exist_ok=True)
        per_set.to_csv(args.out / "seed_sets.csv", index=False)
        scores["seed counts"] = seed_count_table(per_set)
        timings["seed_study_scoring_s"] = time.perf_counter() - start
    write_results(args, scores, study, train_rows, sampling_rows, timings, sampler)


def write_results(args, scores: dict[str, pd.DataFrame], study: pd.DataFrame, train_rows: list[dict],
                  sampling_rows: list[dict], timings: dict, sampler) -> None:
    """Print every table and write them (CSV) with a text summary and a JSON record under args.out."""
    args.out.mkdir(parents=True, exist_ok=True)
    sections = [("Training", pd.DataFrame(train_rows)),
                ("Sampler study of the edm generator (exact Gaussian test, perfect-model fair CRPS / ideal-2's; "
                 "CRPS / physics-31's against the truth for reference)", study),
                ("Sampling", pd.DataFrame(sampling_rows))]
    spectra = scores.pop("spectra")
    sections += [(title, table) for title, table in scores.items()]
    physics = next(m for m in spectra["model"].unique() if m.startswith("physics"))
    sections.append((f"Zonal power of members / physics members' at wavenumbers 1..{MAX_RATIO_WAVENUMBER}",
                     pd.concat([spectra_ratios(spectra, m, physics) for m in spectra["model"].unique()
                                if m.startswith(("gee", "gpp"))], ignore_index=True)))
    sections.append(("Targets (averaged over variables)", target_table(scores["per variable and lead"],
                                                                       args.members)))
    sections.append(("Post-processing and extremes targets (averaged over variables)",
                     extremes_target_table(scores, args.members)))
    spectra.to_csv(args.out / "spectra.csv", index=False)
    text = []
    for title, table in sections:
        block = f"## {title}\n{table.to_string(index=False, float_format=lambda v: f'{v:#.4g}')}"
        print(block + "\n", flush=True)
        text.append(block)
        table.to_csv(args.out / (re.sub(r"[^a-z0-9]+", "_", title.split(" (")[0].lower()).strip("_") + ".csv"),
                     index=False)
    text.append(f"## Stage timings (s)\n{json.dumps({k: round(v, 1) for k, v in timings.items()}, indent=1)}")
    text.append(f"## Sampler\n{sampler} NFE {sampler.nfe}")
    (args.out / "summary.txt").write_text("\n\n".join(text) + "\n")
    print(f"wrote {args.out}/summary.txt", flush=True)


if __name__ == "__main__":
    main()
