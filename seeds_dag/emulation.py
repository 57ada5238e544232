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
from seeds_dag.seed_anomalies import from_anomaly, seed_conditioning, seed_spread
from seeds_dag.training import flatten_leads, seeded_generator

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


@dataclass(frozen=True)
class SamplerConfig:
    """EDM sampler settings (Karras et al. 2022, Algorithm 2 and eq. 5) of the `edm` generator;
    S_churn = 0 is the deterministic ODE solver. num_steps trades cost (`nfe` network evaluations)
    against skill. The one-pass generators (`crps`, `consistency`) ignore these settings.

    The study below was made with SEEDS's per-lead model (one sample per lead); the trajectory
    model's study is in the README.

    The default is the fewest evaluations within 1% of the best CRPS in the skill benchmark's
    sampler study (benchmarks/skill.py, 8 held-out inits × 16 members, CRPS relative to the
    physics ensemble's). With the schedule topped at sigma_max = 80 (EDM's image default):
    2, 4, 8, 16 Heun steps give 41.8, 1.190, 1.079 (best), 1.086 deterministic, and 50.2, 1.264,
    1.079, 1.090 with churn 0.2 per step. Topped at 10: 3.87, 1.086, 1.110, 1.116. The members
    are anomalies in units of the seed spread (variance ≈ 1), so σ = 10 is already pure noise and
    a 4-step schedule from there spends its steps where the anomalies take shape: 4 steps (7
    evaluations) from σ = 10 are within 0.7% of the best at half its cost. (More steps do
    slightly worse: the coarse solver's error adds spread to a slightly under-dispersed model.)
    The price is small-scale noise: zonal power of z500 members over the physics members' at
    wavenumbers 12 / 16 / 21 is 2.3 / 19 / 2720 at 4 steps from 10, 1.3 / 2.5 / 272 at 8 from
    80 and 1.1 / 1.3 / 99 at 16 from 10 (CRPS does not see it); take 16 steps for realistic
    small scales.
    """

    num_steps: int = 4
    sigma_min: float = 0.002
    sigma_max: float = 10.0
    rho: float = 7.0
    S_churn: float = 0.0
    S_tmin: float = 0.0
    S_tmax: float = float("inf")
    S_noise: float = 1.0

    @property
    def nfe(self) -> int:
        """Denoiser evaluations per sample."""
        return number_of_denoiser_evaluations(self.num_steps)

    def sigmas(self) -> Tensor:
        """The Karras schedule, (num_steps + 1,) float64 ending in 0."""
        return karras_sigmas(self.num_steps, self.sigma_min, self.sigma_max, self.rho)


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
        model: a generator of trajectories at `lead_days` (`training.model_from_checkpoint`), in
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
