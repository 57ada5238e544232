"""An emulated ensemble as an artifact: the members of one or several generators made from the seed
members of one forecast, streamed to the store batch by batch (memory does not grow with N), each
batch validated before it is written, and the artifact records what produced it.

This is the one emulate-and-write loop of the project: the `daily_emulated_ensembles` asset, the
skill benchmark and the cost benchmark all call `write_emulated_ensemble` (or `emulated_pieces`),
so the benchmarks measure the code that ships.

Provenance (dataset attrs, `EnsembleProvenance`): the init, the seed members (which members of the
forecast the seeds were, so consumers score exactly those as the seeds' ensemble), the ensemble
size, the sampling seed, the sampler settings, and per model its generator, network evaluations
per member and the version (content hash) of the model file (of the post-processing frame, for a
model whose members go through one, which its entry then names). Consumers read them with
`EnsembleProvenance.of`, never re-derive them.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
import xarray as xr

from seeds_dag.conventions import FORECAST_DIMS, VARIABLES, DataValidationError, validate
from seeds_dag.emulation import (
    MODEL_DIM,
    SamplerConfig,
    ensemble_template,
    forecast_seed,
    generate_members,
    normalized_seeds,
)
from seeds_dag.generators.kinds import model_kind
from seeds_dag.generators.sampling import nfe
from seeds_dag.normalization import from_normalized_array
from seeds_dag.post_processing import PostProcessingFrame
from seeds_dag.store import ArtifactStore

DEFAULT_SEED_MEMBERS = (0, 1)
"""SEEDS's K = 2 seeds: the first two members of the forecast (members are exchangeable)."""
PROVENANCE_ATTR = "provenance"
EMULATOR_MODEL, POST_PROCESSOR_MODEL = "gee", "gpp"
"""The names along MODEL_DIM of the emulator's members (SEEDS-GEE) and the post-processor's
(SEEDS-GPP), in the ensembles asset and in `seeds-dag emulate`."""


def check_seed_members(seed_members: Sequence[int], n_members: int, where: str) -> list[int]:
    """`seed_members` as a list, refused unless they are distinct members of an
    `n_members`-member forecast (at least one)."""
    members = [int(m) for m in seed_members]
    if not members or len(set(members)) != len(members) or not all(0 <= m < n_members for m in members):
        raise ValueError(f"{where}: seed_members {list(seed_members)} must be distinct members of the "
                         f"{n_members}-member forecast (0..{n_members - 1}), at least one")
    return members


@dataclasses.dataclass(frozen=True)
class EnsembleProvenance:
    """What produced an emulated ensemble; stored as the artifact's `provenance` attribute."""

    init_time: str
    seed_members: tuple[int, ...]
    n_members: int
    sampling_seed: int
    sampler: dict
    models: dict  # model name ("gee", "gpp", or "emulated" without a model dim) -> generator, nfe, version

    @property
    def seed_count(self) -> int:
        return len(self.seed_members)

    def attrs(self) -> dict:
        return {PROVENANCE_ATTR: {**dataclasses.asdict(self), "seed_members": list(self.seed_members),
                                  "seed_count": self.seed_count}}

    @classmethod
    def of(cls, ensemble: xr.Dataset, where: str) -> EnsembleProvenance:
        """The provenance recorded in an emulated ensemble; an artifact without one (written by
        an older version) is refused by name rather than guessed."""
        recorded = ensemble.attrs.get(PROVENANCE_ATTR)
        if not isinstance(recorded, dict):
            raise DataValidationError(f"{where}: no '{PROVENANCE_ATTR}' attribute (which seed members "
                                      "and models produced it); rematerialise it")
        fields = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(fields - set(recorded))
        if missing:
            raise DataValidationError(f"{where}: provenance lacks {missing}; rematerialise it")
        values = {name: recorded[name] for name in fields}
        return cls(**{**values, "seed_members": tuple(int(m) for m in values["seed_members"])})


def _sampler_settings(sampler: SamplerConfig) -> dict:
    # JSON has no infinity: the log-uniform schedule's rho is recorded as the string "inf".
    rho = sampler.rho if math.isfinite(sampler.rho) else "inf"
    return {"solver": sampler.solver, "num_steps": sampler.steps, "sigma_min": sampler.sigma_min,
            "sigma_max": sampler.sigma_max, "rho": rho, "S_churn": sampler.S_churn}


@dataclasses.dataclass
class EmulationTiming:
    """Seconds of one emulated ensemble: per model (sampling, conversion and write together), and
    within them the conversion to physical units and the zarr writes (the rest is sampling)."""

    model_seconds: dict[str, float]
    normalisation_s: float = 0.0
    zarr_s: float = 0.0

    @property
    def seconds(self) -> float:
        return sum(self.model_seconds.values())


def emulated_pieces(models: Mapping[str, torch.nn.Module], forecast: xr.Dataset, stats: xr.Dataset,
                    template: xr.Dataset, seed_members: Sequence[int], sampler: SamplerConfig, seed: int,
                    device: torch.device | str, where: str, timing: EmulationTiming,
                    frames: Mapping[str, PostProcessingFrame] | None = None,
                    ) -> Iterator[tuple[dict[str, slice], xr.Dataset]]:
    """(region, piece) of each member batch of each model, in physical units, validated: `piece`
    is `template` (from `ensemble_template`, chunked by the batch size) at `region`. Every model
    gets the same noise (their ensembles differ by what the models learnt); the members of a model
    named in `frames` go through its post-processing frame, and models that are one network (the
    emulator and the frame around it) share its pass; `timing` accrues the seconds."""
    frames = frames or {}
    variables = list(VARIABLES)
    start = time.perf_counter()
    seeds, spread, lead_days = normalized_seeds(forecast, stats, seed_members)
    lead_time = forecast["lead_time"].values
    timing.normalisation_s += time.perf_counter() - start
    n_members, batch = template.sizes["member"], template.chunks["member"][0]
    stacked = MODEL_DIM in template.dims
    for network, names in _models_by_network(models).items():
        # Models sharing a network (the emulator and the frame around it) draw the same members
        # from the same noise: one network pass serves all of them.
        start, spent = time.perf_counter(), {name: 0.0 for _, name in names}
        for members, normalized in generate_members(network, seeds, spread, lead_days, n_members, batch,
                                                    sampler, seed, device):
            for index, name in names:
                mark = time.perf_counter()
                drawn = frames[name].apply(normalized, seeds) if name in frames else normalized
                fields = from_normalized_array(drawn, stats, variables, lead_time)
                region = {"member": members} | ({MODEL_DIM: slice(index, index + 1)} if stacked else {})
                piece = template.isel(region).copy(data={
                    n: fields[n].values[None, None] if stacked else fields[n].values[None] for n in variables})
                # Refuse a bad batch before it is committed: the previous version stays in place.
                validate(piece.isel({MODEL_DIM: 0}) if stacked else piece, FORECAST_DIMS,
                         f"{where} model {name} members {members.start}..{members.stop - 1}")
                seconds = time.perf_counter() - mark
                timing.normalisation_s += seconds
                spent[name] += seconds
                yield region, piece
        # Each model is timed for its own pieces; the shared network pass (and the writes between
        # pieces) count to the first model that uses it.
        spent[names[0][1]] += time.perf_counter() - start - sum(spent.values())
        timing.model_seconds.update(spent)


def _models_by_network(models: Mapping[str, torch.nn.Module]) -> dict[torch.nn.Module, list[tuple[int, str]]]:
    """Each distinct network -> the (position along MODEL_DIM, name) of the models that are it."""
    grouped: dict[torch.nn.Module, list[tuple[int, str]]] = {}
    for index, (name, model) in enumerate(models.items()):
        grouped.setdefault(model, []).append((index, name))
    return grouped


def write_emulated_ensemble(store: ArtifactStore, asset: str, partition: str, forecast: xr.Dataset,
                            stats: xr.Dataset, models: Mapping[str, torch.nn.Module], *,
                            model_versions: Mapping[str, str], seed_members: Sequence[int],
                            n_members: int, batch_size: int, sampler: SamplerConfig, seed: int = 0,
                            device: torch.device | str = "cpu", stack_models: bool = True,
                            on_members: Callable[[int], None] | None = None,
                            frames: Mapping[str, PostProcessingFrame] | None = None) -> EmulationTiming:
    """Emulate `n_members` members of one init's `forecast` (dims init_time=1, lead_time, member,
    lat, lon) from its `seed_members` with each of `models` (name -> generator), streamed into a new
    version of `asset`[`partition`] with the provenance attached; committed only when every batch
    is written and valid (else the previous version stays current).

    stack_models: dims (model, *FORECAST_DIMS) with one entry per model; False: FORECAST_DIMS, for
        exactly one model. seed: combined with the init date (`forecast_seed`).
    model_versions: model name -> `model_file.model_version` of its file (or a note such as "untrained").
    on_members: called with the number of members written so far (over all models).
    frames: model name -> the post-processing frame its members go through (`seeds_dag.post_processing`),
        recorded in its provenance.
    """
    frames = frames or {}
    where = f"{asset}[{partition}]"
    if not stack_models and len(models) != 1:
        raise ValueError(f"{where}: stack_models=False needs exactly one model, got {list(models)}")
    if set(model_versions) != set(models):
        raise ValueError(f"{where}: model_versions name {sorted(model_versions)}, models {sorted(models)}")
    seed_members = check_seed_members(seed_members, forecast.sizes["member"], where)
    init_time = forecast["init_time"].values[0]
    sampling_seed = forecast_seed(init_time, seed)
    provenance = EnsembleProvenance(
        init_time=str(np.datetime64(init_time, "D")), seed_members=tuple(seed_members), n_members=n_members,
        sampling_seed=sampling_seed, sampler=_sampler_settings(sampler),
        models={name: {"generator": model_kind(model), "nfe": nfe(model, sampler),
                       "model_version": model_versions[name],
                       **({"post_processing": f"frame around the emulator {frames[name].emulator_version}"}
                          if name in frames else {})} for name, model in models.items()})
    template = ensemble_template(forecast, n_members, batch_size, list(models) if stack_models else None)
    template.attrs.update(provenance.attrs())
    timing, written = EmulationTiming(model_seconds={}), 0
    with store.dataset_writer(asset, partition, template) as writer:
        for region, piece in emulated_pieces(models, forecast, stats, template, seed_members, sampler,
                                             sampling_seed, device, where, timing, frames):
            mark = time.perf_counter()
            writer.write_region(piece, region=region)
            timing.zarr_s += time.perf_counter() - mark
            written += region["member"].stop - region["member"].start
            if on_members is not None:
                on_members(written)
        last = list(models)[-1]
        mark = time.perf_counter()
    # The commit (chunk check and pointer) belongs to the last model's time.
    commit = time.perf_counter() - mark
    timing.zarr_s += commit
    timing.model_seconds[last] += commit
    return timing


def emulated_ensemble(model: torch.nn.Module, forecast: xr.Dataset, stats: xr.Dataset, *,
                      seed_members: Sequence[int], n_members: int, batch_size: int, sampler: SamplerConfig,
                      seed: int = 0, device: torch.device | str = "cpu") -> xr.Dataset:
    """In memory, the ensemble that `write_emulated_ensemble(..., stack_models=False)` writes for
    `model` (dims FORECAST_DIMS, physical units): for studies of a few members."""
    seed_members = check_seed_members(seed_members, forecast.sizes["member"], "emulated_ensemble")
    template = ensemble_template(forecast, n_members, batch_size)
    pieces = [piece for _, piece in emulated_pieces(
        {"emulated": model}, forecast, stats, template, seed_members, sampler,
        forecast_seed(forecast["init_time"].values[0], seed), device, "emulated_ensemble",
        EmulationTiming(model_seconds={}))]
    return xr.concat(pieces, dim="member")
