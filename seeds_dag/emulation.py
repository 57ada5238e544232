"""Generative ensemble emulation (SEEDS-GEE, Li et al. 2024): K seed members → N new members.

Each new member is one sample of a whole trajectory — all lead times jointly — from the
generator (`seeds_dag.generators`: the one-pass CRPS generator, a consistency model, or the EDM
diffusion model of SEEDS), of the member's anomaly r from the seed mean (`seeds_dag.seed_anomalies`),
which is then scaled and added to the seed mean. So an emulated member's day 3 follows from its
day 1 as a physics member's does. Network inputs are members, so memory is bounded by the batch
size, not N.

Reproducibility: the noise of member m comes from its own generator keyed by (seed, m). A member
is therefore the same whatever the batch size.
"""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import dask.array as da
import numpy as np
import torch
import xarray as xr
from torch import Tensor

from seeds_dag.conventions import FORECAST_DIMS, VARIABLES, attach_attributes
from seeds_dag.diffusion.sampler import karras_sigmas, number_of_denoiser_evaluations
from seeds_dag.generators.kinds import network_config
from seeds_dag.generators.sampling import sample_anomalies
from seeds_dag.normalization import to_normalized_array
from seeds_dag.random_streams import seeded_generator
from seeds_dag.seed_anomalies import from_anomaly, seed_conditioning, seed_spread
from seeds_dag.trajectory_channels import flatten_leads

MODEL_DIM = "model"
"""The dim along which a dataset holds the ensembles of several models (e.g. "gee", "gpp")."""
UNSTACKED_MODEL = "emulated"
"""The name of the one ensemble of an artifact without a MODEL_DIM."""


def model_ensembles(emulated: xr.Dataset | xr.DataArray) -> dict[str, xr.Dataset | xr.DataArray]:
    """Model name -> its ensemble in an emulated artifact: one per value of MODEL_DIM (the dim
    dropped), or the artifact itself as UNSTACKED_MODEL when it has no such dim."""
    if MODEL_DIM not in emulated.dims:
        return {UNSTACKED_MODEL: emulated}
    return {str(model): emulated.sel({MODEL_DIM: model}, drop=True) for model in emulated[MODEL_DIM].values}


def forecast_seed(init_time: np.datetime64 | str, seed: int = 0) -> int:
    """The sampling seed of the forecast from `init_time`: every init date draws its own noise,
    and `seed` (0 ≤ seed < 1000) gives further independent draws for the same date."""
    if not 0 <= seed < 1000:
        raise ValueError(f"seed must lie in [0, 1000), got {seed}")
    day = np.datetime64(init_time, "D").astype(str)
    return int(day.replace("-", "")) * 1000 + seed


SOLVERS = ("dpm_solver_2m", "heun")
"""The ODE solvers of the `edm` generator: DPM-Solver++(2M) (`diffusion.dpm_solver`, the default)
and EDM's Heun sampler (`diffusion.sampler`, Algorithm 2, with churn)."""
SOLVER_STEPS = {"dpm_solver_2m": 16, "heun": 24}
"""Each solver's default number of steps on the default schedule (log-uniform from σ = 80 to
0.002), with room inside the ±10 % an exact Gaussian denoiser allows every mode's variance
(tests/diffusion/test_exact_gaussian.py): DPM-Solver++(2M) is within 7–8 % at 12–14 steps and 5 %
at 16; Heun within 10 % at 20 steps and 6 % at 24 (scanned over 8–40 steps, σ_max 40–160, ρ 7 to
log-uniform, 100 000 draws)."""


@dataclass(frozen=True)
class SamplerConfig:
    """The `edm` generator's solver and noise schedule (Karras et al. 2022, eq. 5; Algorithm 2 for
    Heun's churn); the one-pass generators (`crps`, `consistency`) ignore these settings.
    num_steps None takes the solver's default (`SOLVER_STEPS`); `nfe` is the network evaluations
    per member.

    Chosen against a known answer, not against a score: with the exact denoiser of Gaussian data,
    D(x; σ) = λ/(λ + σ²)·x, every mode of variance λ must come back with variance λ
    (tests/diffusion/test_exact_gaussian.py; 20 000 members drawn as the asset draws them).
    Variance returned / λ for λ = 100, 10, 1, 0.1, 0.01, 1e-3, 1e-4 (network evaluations):

        Heun, 4 steps from σ = 10, ρ = 7 (7, the default before):  0.55 2.00 2.90 5.63 7.93 7.44 32.5
        Heun, 16 steps from σ = 10, ρ = 7 (31):                     0.51 0.94 1.02 1.07 1.09 1.14 1.14
        Heun, 32 steps from σ = 80, ρ = 7 (63):                     1.00 1.02 1.01 1.04 1.04 1.07 1.04
        Heun, 24 steps from σ = 80, log-uniform (47):               1.05 1.06 1.05 1.06 1.05 1.06 1.00
        DPM-Solver++(2M), 16 from σ = 10, ρ = 7 (16):               0.50 0.94 1.03 1.08 1.10 1.10 0.96
        DPM-Solver++(2M), 16 from σ = 80, log-uniform (16, default): 1.03 1.05 1.04 1.05 1.04 1.04 0.95

    The small-variance modes are the small scales: a solver that inflates them paints grid-point
    noise on every member (zonal power up to 10³ × the physics members' at wavenumber 15 with the
    old default) and loosens the relations between variables. σ_max = 80 because the leading
    modes of a trajectory (30 correlated fields on 2048 points) hold variances of 10–100, which a
    start at σ = 10 does not yet cover. A log-uniform schedule spends the steps evenly over the
    noise levels where the modes of 1e-4 … 100 take shape. The old default had been picked by
    CRPS against a truth the physics ensemble under-disperses, which rewards spread, so the
    solver's error scored as skill; the generator is now judged by perfect-model scores and
    realism (docs/benchmarks.md).

    S_churn, S_tmin, S_tmax, S_noise: Heun's churn (Algorithm 2); 0 is its deterministic solver.
    """

    solver: str = "dpm_solver_2m"
    num_steps: int | None = None
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = math.inf
    S_churn: float = 0.0
    S_tmin: float = 0.0
    S_tmax: float = float("inf")
    S_noise: float = 1.0

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise ValueError(f"unknown solver {self.solver!r}: choose one of {list(SOLVERS)}")
        if self.num_steps is not None and self.num_steps < 1:
            raise ValueError(f"num_steps must be at least 1 (or None for the solver's default), got {self.num_steps}")
        if self.S_churn and self.solver != "heun":
            raise ValueError(f"S_churn is Heun's; the {self.solver} solver is deterministic")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {self.sigma_min} and {self.sigma_max}")

    @property
    def steps(self) -> int:
        """The steps this sampler takes: num_steps, or the solver's default."""
        return SOLVER_STEPS[self.solver] if self.num_steps is None else self.num_steps

    @property
    def nfe(self) -> int:
        """Denoiser evaluations per sample: one a step for DPM-Solver++(2M), Heun's 2 a step less one."""
        return self.steps if self.solver == "dpm_solver_2m" else number_of_denoiser_evaluations(self.steps)

    def sigmas(self) -> Tensor:
        """The noise schedule, (steps + 1,) float64 ending in 0."""
        return karras_sigmas(self.steps, self.sigma_min, self.sigma_max, self.rho)


def normalized_seeds(forecast: xr.Dataset, stats: xr.Dataset,
                     seed_members: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The seeds of a one-init forecast (dims init_time=1, lead_time, member, lat, lon) as
    `generate_members` takes them: seeds (lead, K, V, lat, lon) normalised, the spread
    (lead, V, lat) that scales their anomalies, and the lead times in days."""
    variables = list(VARIABLES)
    seeds = to_normalized_array(forecast[variables].isel(init_time=0, member=list(seed_members)), stats, variables)
    lead_time = forecast["lead_time"].values
    return seeds, seed_spread(stats, variables, lead_time), lead_time / np.timedelta64(1, "D")


def ensemble_template(forecast: xr.Dataset, n_members: int, chunk: int,
                      models: Sequence[str] | None = None) -> xr.Dataset:
    """A lazy (dask) dataset of the full shape of `n_members` emulated from a one-init forecast,
    to stream into with `ArtifactStore.dataset_writer`: dims FORECAST_DIMS, or (model,
    *FORECAST_DIMS) when `models` names several ensembles; chunked by one model and `chunk`
    members, so each streamed piece fills whole chunks."""
    shape = (1, forecast.sizes["lead_time"], n_members, forecast.sizes["lat"], forecast.sizes["lon"])
    chunks = (1, shape[1], chunk, *shape[3:])
    dims: tuple[str, ...] = FORECAST_DIMS
    coords = {name: forecast[name].values for name in ("init_time", "lead_time", "lat", "lon")}
    coords["member"] = np.arange(n_members)
    if models is not None:
        shape, chunks, dims = (len(models), *shape), (1, *chunks), (MODEL_DIM, *dims)
        coords[MODEL_DIM] = list(models)
    return attach_attributes(xr.Dataset(
        {name: (dims, da.zeros(shape, chunks=chunks, dtype=np.float32)) for name in VARIABLES},
        coords=coords,
    ))


@torch.inference_mode()
def generate_members(
    model: torch.nn.Module,
    seeds: np.ndarray,
    spread: np.ndarray,
    lead_days: np.ndarray,
    n_members: int,
    batch_size: int,
    sampler: SamplerConfig,
    seed: int,
    device: torch.device | str,
) -> Iterator[tuple[slice, np.ndarray]]:
    """Sample `n_members` new member trajectories conditioned on the seed members, streaming.

    Args:
        model: a generator of trajectories at `lead_days` (`model_file.model_from_checkpoint`), in
            eval mode.
        seeds: (n_lead, K, V, H, W) normalised seed members; their order does not matter.
        spread: (n_lead, V, H) the ensemble spread the model was trained with (`seed_spread`).
        lead_days: (n_lead,) lead times in days, ≥ 0: the model's leads.
        batch_size: members per network batch, each a whole trajectory.
        sampler: the `edm` generator's schedule (ignored by the one-pass generators).
        seed: non-negative; derive it from the forecast (e.g. its init date) so that different
            forecasts get independent noise.

    Yields:
        (members, samples): `members` a slice of range(n_members), contiguous and in order;
        samples (n_lead, members.stop − members.start, V, H, W) normalised float32.
    """
    if seeds.ndim != 5 or len(lead_days) != seeds.shape[0]:
        raise ValueError(f"seeds: expected shape ({len(lead_days)}, K, V, H, W), got {seeds.shape}")
    if spread.shape != (seeds.shape[0], *seeds.shape[2:4]):
        raise ValueError(f"spread: expected shape {(seeds.shape[0], *seeds.shape[2:4])}, got {spread.shape}")
    if n_members < 1 or batch_size < 1 or seed < 0 or np.any(np.asarray(lead_days) < 0):
        raise ValueError(
            f"need n_members ≥ 1, batch_size ≥ 1, seed ≥ 0 and lead_days ≥ 0, got {n_members}, {batch_size}, "
            f"{seed} and {list(lead_days)}"
        )
    n_lead, n_var = seeds.shape[0], seeds.shape[2]
    trained = network_config(model)
    if (trained.num_leads, trained.num_variables) != (n_lead, n_var):
        raise ValueError(f"the model generates trajectories of {trained.num_leads} leads × {trained.num_variables} "
                         f"variables, the seeds have {n_lead} × {n_var}")
    # (K, L·V, H, W) and (L·V, H): a trajectory as the network's channels.
    # One forecast's seeds serve every member: (1, K, L·V, H, W) and (1, L·V, H), their summary
    # computed once and broadcast over each batch.
    seeds_t = flatten_leads(torch.as_tensor(seeds, dtype=torch.float32).transpose(0, 1))[None].to(device)
    spread_t = torch.as_tensor(spread, dtype=torch.float32).flatten(0, 1)[None].to(device)
    cond = seed_conditioning(seeds_t, spread_t)
    for start in range(0, n_members, batch_size):
        members = slice(start, min(start + batch_size, n_members))
        generators = [seeded_generator(seed, m) for m in range(members.start, members.stop)]
        anomaly = sample_anomalies(model, cond.expand(len(generators), -1, -1, -1), generators, sampler)
        samples = from_anomaly(anomaly, seeds_t, spread_t).cpu()
        # (B, L·V, H, W) -> (L, B, V, H, W)
        yield members, np.ascontiguousarray(samples.unflatten(1, (n_lead, n_var)).transpose(0, 1).numpy())
