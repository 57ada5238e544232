"""SEEDS-GPP as a post-processing frame around the emulator: the emulator's members, moved onto the
truth's distribution by a regression fitted on the reforecast inits and their truth.

For each lead, variable and latitude (pooled over longitudes by default), in normalised units:

    x_gpp = α + β·m_K + c·(x_gee − m_K)

m_K is the mean of the K seeds and x_gee a member the emulator drew from them; for an emulator that
draws its members about the seeds' mean shrunk (`DenoiserConfig.seed_mean_shrinkage`), m_K is that
centre c + S·(m_K − c), so that the frame's centre and the members' deviations about it are what the emulator
draws (about the raw mean, the shrinkage would be counted twice). α + β·m_K is the
least-squares prediction of the truth y from the seed mean over the training inits (model
output statistics): α removes the physics model's systematic error, β < 1 shrinks the seed mean
towards the truth's climatology where the seeds say less about the truth (at long leads); both are
what a post-processor can learn from a few dozen inits. c = r / d scales the members so that their
spread about the centre is the truth's: r is the rms of y − α − β·m_K, d the rms of the emulator's
own members about m_K on the same inits (so a network that under- or over-spreads is corrected too,
as model output statistics correct the model they are fitted to, not an ideal one). The members
keep the emulator's spatial, cross-variable and lead-to-lead structure; only their centre and size
per latitude change.

Why this and not a second generator trained with the truth as target (SEEDS-GPP as published, still
available as `method="generator"` of the asset): the reforecast has one truth per init, a few dozen
of them, and a network trained on them learns their particulars. Measured on the main job's 3 inits
(24 training inits, fair CRPS over physics-31's, days 1/3/5/7/10/15): the edm post-processor trained
on the truth reached 1.18 / 1.08 / 1.01 / 0.96 / 0.97 / 0.90 with spread/skill 0.62–0.96 and an
area-mean sp error 20× physics'; this frame around the same run's emulator 1.15 / 1.03 / 1.00 /
0.97 / 0.96 / 0.84 with spread/skill 0.94–0.99 and 95 % of the area-mean z500 and t850 error
removed, with no training of its own (fitting draws 16 members of 2 seed sets of each training
init: 7 s on 2 cores).

Why pooled over longitudes: with 24 inits a per-point intercept carries the error of a mean of 24
correlated forecast errors, about half the bias itself at day 10. The embedded physics is zonally
symmetric (Held–Suarez forcing), so its systematic error is too; fitted per point the same 3 inits
scored 1.18 / 1.10 / 1.07 / 1.06 / 1.04 / 0.92 with spread/skill 0.82–0.91. Real archives with
decades of reforecasts and geography in their errors can fit it per point (`pool_longitudes=False`).
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile

import numpy as np
import torch

from seeds_dag.emulation import SamplerConfig, generate_members
from seeds_dag.seed_mean_shrinkage import shrunk_centre
from seeds_dag.verification.seed_sets import disjoint_seed_sets

FRAME_ARRAYS = ("offset", "slope", "scale")
CENTRE_FACTOR, CENTRE_CLIMATE = "centre_factor", "centre_climate"
FRAME_MEMBERS = 16
FRAME_SEED_SETS = 2
"""The emulator's members per training init and seed set, and the disjoint seed sets per init, that
a frame is fitted to by default: 24 inits × 2 × 16 members pin the emulator's spread per lead,
variable and latitude to about 1 % (pooled over 64 longitudes)."""
FRAME_POOL_LONGITUDES = True
"""Regressions pooled over longitudes by default (the module docstring says why)."""


class FrameError(ValueError):
    """A post-processing frame that cannot be fitted, read or applied as asked."""


@dataclasses.dataclass(frozen=True)
class PostProcessingFrame:
    """offset α, slope β, scale c: (lead, V, lat) or, fitted per point, (lead, V, lat, lon) float32,
    normalised units. seed_count: the K it was fitted for (the seed mean's error depends on K).
    emulator_version: the version of the emulator whose members set c (`model_file.model_version`).
    centre_factor, centre_climate: S (lead, V, W // 2 + 1) and c (lead, V, lat, lon) of an emulator
    that shrinks the seeds' mean, the centre then c + S·(m_K − c) (`seed_mean_shrinkage.shrunk_centre`);
    None (both): m_K."""

    offset: np.ndarray
    slope: np.ndarray
    scale: np.ndarray
    seed_count: int
    emulator_version: str
    centre_factor: np.ndarray | None = None
    centre_climate: np.ndarray | None = None

    def __post_init__(self) -> None:
        shapes = {name: getattr(self, name).shape for name in FRAME_ARRAYS}
        if len(set(shapes.values())) != 1 or len(self.offset.shape) not in (3, 4):
            raise FrameError(f"frame arrays must share a (lead, V, lat[, lon]) shape, got {shapes}")
        _check_centre_pair(self.centre_factor, self.centre_climate)
        if self.centre_factor is not None and (
                self.centre_factor.shape[:2] != self.offset.shape[:2] or self.centre_factor.ndim != 3
                or self.centre_climate.shape[:3] != self.offset.shape[:3] or self.centre_climate.ndim != 4
                or self.centre_factor.shape[2] != self.centre_climate.shape[3] // 2 + 1):
            raise FrameError(f"the frame's centre factor {self.centre_factor.shape} and climate "
                             f"{self.centre_climate.shape} do not fit its (lead, V, lat[, lon]) {self.offset.shape}")

    def apply(self, members: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """members (L, N, V, H, W) drawn from seeds (L, K, V, H, W), both normalised -> the
        post-processed members, same shape (see the module docstring)."""
        if seeds.shape[1] != self.seed_count:
            raise FrameError(f"the frame was fitted for K = {self.seed_count} seeds, got {seeds.shape[1]}")
        lead, _, variables, lat, lon = members.shape
        if self.offset.shape[:3] != (lead, variables, lat) or self.offset.shape[3:] not in ((), (lon,)):
            raise FrameError(f"the frame is for (lead, V, lat[, lon]) {self.offset.shape}, members have "
                             f"{(lead, variables, lat, lon)}")
        seed_mean = self.centre(seeds.mean(axis=1))[:, None]  # (L, 1, V, H, W)
        offset, slope, scale = (_over_members_and_lon(getattr(self, name)) for name in FRAME_ARRAYS)
        return (offset + slope * seed_mean + scale * (members - seed_mean)).astype(np.float32)

    def centre(self, seed_mean: np.ndarray) -> np.ndarray:
        """The members' centre the frame regresses on: the seeds' mean (..., L, V, H, W), shrunk
        towards `centre_climate` by `centre_factor` where the emulator shrinks it."""
        if self.centre_factor is None:
            return seed_mean
        return shrunk_centre(seed_mean, self.centre_factor, self.centre_climate)

    def to_bytes(self) -> bytes:
        """The frame as an .npz of plain arrays (read back without pickle)."""
        buffer = io.BytesIO()
        meta = json.dumps({"seed_count": self.seed_count, "emulator_version": self.emulator_version})
        centre = ({} if self.centre_factor is None
                  else {CENTRE_FACTOR: self.centre_factor, CENTRE_CLIMATE: self.centre_climate})
        arrays = {name: getattr(self, name) for name in FRAME_ARRAYS} | centre
        np.savez(buffer, meta=np.array(meta), **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> PostProcessingFrame:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as stored:
                meta = json.loads(str(stored["meta"]))
                arrays = {name: stored[name] for name in FRAME_ARRAYS}
                # Frames written before the field have none: their emulators did not shrink.
                centre = {name: stored[name] for name in (CENTRE_FACTOR, CENTRE_CLIMATE) if name in stored.files}
            return cls(**arrays, seed_count=int(meta["seed_count"]),
                       emulator_version=str(meta["emulator_version"]), **centre)
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise FrameError(f"{where}: not a post-processing frame ({err}); rematerialise it") from err


def _check_centre_pair(factor: np.ndarray | None, climate: np.ndarray | None) -> None:
    """A shrunk centre needs S and c together (the frame and its fit both check before using them)."""
    if (factor is None) != (climate is None):
        raise FrameError("a frame's centre needs both its factor and its climate, or neither")


def _over_members_and_lon(array: np.ndarray) -> np.ndarray:
    """(L, V, H[, W]) -> broadcastable against (L, N, V, H, W)."""
    expanded = array[:, None]
    return expanded if array.ndim == 4 else expanded[..., None]


def fit_post_processing_frame(seed_means: np.ndarray, truth: np.ndarray, members: np.ndarray, *,
                              emulator_version: str, seed_count: int,
                              pool_longitudes: bool = FRAME_POOL_LONGITUDES,
                              centre_factor: np.ndarray | None = None,
                              centre_climate: np.ndarray | None = None) -> PostProcessingFrame:
    """Fit the frame (module docstring) on training inits, all arrays normalised:

    seed_means: (S, I, L, V, H, W), the mean of each of S seed sets of K members of I inits;
    truth: (I, L, V, H, W) at the valid times; members: (S, I, L, N, V, H, W), the emulator's
    members drawn from those seeds. Pooled over seed sets, inits (and members) and, by default,
    longitudes; float64 sums. centre_factor, centre_climate: S and c of an emulator that shrinks the
    seeds' mean (`PostProcessingFrame`): the seed means are shrunk by them before the fit.
    """
    if seed_means.ndim != 6 or members.ndim != 7 or truth.shape != seed_means.shape[1:] \
            or members.shape[:3] + members.shape[4:] != seed_means.shape:
        raise FrameError(f"seed_means (S, I, L, V, H, W), truth (I, L, V, H, W) and members (S, I, L, N, V, H, W) "
                         f"must agree, got {seed_means.shape}, {truth.shape} and {members.shape}")
    if seed_means.shape[0] * seed_means.shape[1] < 2:
        raise FrameError(f"fitting a frame needs at least 2 (seed set, init) samples, got {seed_means.shape[:2]}")
    _check_centre_pair(centre_factor, centre_climate)
    if centre_factor is not None:
        seed_means = shrunk_centre(seed_means, centre_factor, centre_climate)
    m, y = seed_means.astype(np.float64), np.broadcast_to(truth, seed_means.shape).astype(np.float64)
    pooled = (0, 1, 5) if pool_longitudes else (0, 1)
    m_mean, y_mean = m.mean(pooled, keepdims=True), y.mean(pooled, keepdims=True)
    m_var = ((m - m_mean) ** 2).mean(pooled, keepdims=True)
    if np.any(m_var <= 0):
        raise FrameError("the seed means do not vary over the training inits at some lead, variable and latitude")
    slope = ((m - m_mean) * (y - y_mean)).mean(pooled, keepdims=True) / m_var
    offset = y_mean - slope * m_mean
    truth_rms = np.sqrt(((y - offset - slope * m) ** 2).mean(pooled, keepdims=True))
    deviation = members.astype(np.float64) - seed_means[:, :, :, None].astype(np.float64)
    member_pooled = (0, 1, 3, 6) if pool_longitudes else (0, 1, 3)
    member_rms = np.sqrt((deviation ** 2).mean(member_pooled))
    if np.any(member_rms <= 0):
        raise FrameError("the emulator's members do not differ from the seed mean at some lead, variable and latitude")
    drop = pooled  # the pooled axes of (S, I, L, V, H, W), kept as length 1 by keepdims
    arrays = [np.squeeze(a, axis=drop).astype(np.float32) for a in (offset, slope)]
    scale = (np.squeeze(truth_rms, axis=drop) / member_rms).astype(np.float32)
    return PostProcessingFrame(*arrays, scale, seed_count=seed_count, emulator_version=emulator_version,
                               centre_factor=centre_factor, centre_climate=centre_climate)


def fit_frame_to_emulator(model: torch.nn.Module, data: np.ndarray, truth: np.ndarray, spread: np.ndarray,
                          lead_days: np.ndarray, *, seed_count: int, seed_sets: int, n_members: int,
                          emulator_version: str, batch_size: int = 16, sampler: SamplerConfig | None = None,
                          device: torch.device | str = "cpu", pool_longitudes: bool = FRAME_POOL_LONGITUDES) -> PostProcessingFrame:
    """Draw `n_members` members of the emulator `model` from each of `seed_sets` disjoint sets of
    `seed_count` members of every training init and fit the frame to them and the truth.

    data: (I, L, M, V, H, W) the normalised reforecast; truth: (I, L, V, H, W) normalised at its
    valid times; spread: (L, V, H) as the model was trained with (`seed_spread`). The members of
    init i and seed set s are drawn with sampling seed i·seed_sets + s: the same frame every run.
    """
    sets = disjoint_seed_sets(data.shape[2], seed_count, seed_sets)
    sampler = sampler or SamplerConfig()
    seed_means, members = [], []
    for s, seed_set in enumerate(sets):
        means, drawn = [], []
        for i, forecast in enumerate(data):
            seeds = forecast[:, list(seed_set)]
            draws = np.concatenate([batch for _, batch in generate_members(
                model, seeds, spread, lead_days, n_members, batch_size, sampler, i * len(sets) + s, device)], axis=1)
            means.append(seeds.mean(axis=1))
            drawn.append(draws)
        seed_means.append(np.stack(means))
        members.append(np.stack(drawn))
    factor = getattr(model, "seed_mean_factor", None)  # (L·V, W // 2 + 1) where the emulator shrinks m_K
    climate = getattr(model, "seed_mean_climate", None)  # (L·V, H, W) then
    if factor is not None:
        factor = factor.detach().cpu().numpy().reshape(len(lead_days), -1, factor.shape[-1])
        climate = climate.detach().cpu().numpy().reshape(len(lead_days), -1, *climate.shape[-2:])
    return fit_post_processing_frame(np.stack(seed_means), truth, np.stack(members), emulator_version=emulator_version,
                                     seed_count=seed_count, pool_longitudes=pool_longitudes,
                                     centre_factor=factor, centre_climate=climate)
