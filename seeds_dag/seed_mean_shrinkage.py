"""The seeds' mean shrunk towards the climate where it says little: a Wiener factor per lead, variable
and zonal wavenumber, estimated on the reforecast, for the one-pass generator's members.

A member is drawn about the mean m_K of K seeds. m_K is the ensemble mean μ plus the error of a
K-member average, of variance σ²/K per zonal wavenumber (σ² the members' variance about μ). Where
the forecast still knows the flow (large scales, short leads) that error is small beside μ; where
it has lost it (wavenumbers past 10 at days 10–15) μ is near the climate's and m_K is mostly that
error. A member drawn as m_K + spread then has the physics members' variance twice over: once as
its spread, once in m_K. Measured on the main job's 3 inits, ideal-2 (m_K + √(1 + 1/K) times a
physics member's deviation) has up to 1.8–2.7 × the physics members' zonal power at wavenumbers
1–15 by days 10–15 (`benchmarks.shrunk_ideal`), and the emulator, which learns to draw like it, had
the same to within a few per cent at every wavenumber and lead.

The best linear estimate of μ from m_K, with c the climate and τ² μ's variance about it, is
c + S·(m_K − c) with

    S = τ² / (τ² + σ²/K),

its error variance S·σ²/K, so a member drawn about that centre with deviations of variance
σ²(1 + S/K) has, in expectation, exactly the physics members' power about the climate (S·τ² + σ² +
S·σ²/K = τ² + σ²), and its ensemble is sharper where the seeds say little. c is the reforecast's
mean per lead, variable, latitude and longitude (`reforecast_climate`): the normalisation removes
only the zonal mean, and real climates have stationary waves that shrinking towards a zonally
symmetric one would wipe out. Its longitudinal part is kept only where it stands out of its own
sampling noise (a wavenumber's power over four times the noise's, shrunk by 1 − 4·noise/power):
the embedded physics is zonally symmetric, so there that part is noise that every member's centre
would carry. Measured on the main job's 3 inits as ideal-2 shrunk (`benchmarks.shrunk_ideal`), the
raw mean per longitude cost 0.2–0.5 % of the perfect-model CRPS at days 1–10 against a zonal
climate, the thresholded one 0.1–0.2 %. With it the shrunk ideal-2's perfect-model fair CRPS is
1.001 / 0.999 / 0.998 / 1.002 / 1.002 / 0.951 of ideal-2's at days 1 / 3 / 5 / 7 / 10 / 15 (mean
over variables), and its zonal power over the physics members' 0.68–1.35 at wavenumbers 1–15,
where ideal-2's is 0.83–2.67.

τ² and σ² are estimated per lead, variable and wavenumber from the reforecast's members
(init-to-init variance of the K-free ensemble mean, corrected for its own sampling error, and the
unbiased member variance), pooled over latitudes with area weights: per latitude, 24 inits leave
the estimates too noisy.
"""

import numpy as np
import xarray as xr
from torch import Tensor

from seeds_dag.output_spectrum import filter_zonally
from seeds_dag.weighting import area_weights


CLIMATE_NOISE_MULTIPLE = 4.0
"""A zonal wavenumber of the climate's longitudinal part is kept where its power exceeds this many
times its sampling noise, and shrunk by 1 − multiple·noise/power (module docstring)."""


def reforecast_climate(data: np.ndarray) -> np.ndarray:
    """c: the mean over inits and members of the normalised reforecast `data` (n_init, n_lead,
    n_member, V, H, W), per channel (lead-major, as the generator's), latitude and longitude, its
    zonal wavenumbers 1 and up kept where they stand out of the noise of a mean over n_init inits
    (`CLIMATE_NOISE_MULTIPLE`): float32 (L·V, H, W)."""
    n_init = data.shape[0]
    if n_init < 2:
        raise ValueError(f"reforecast_climate: a climate's sampling noise needs 2 inits, got {n_init}")
    means = np.fft.rfft(data.astype(np.float64).mean(axis=2), axis=-1)  # (init, lead, var, lat, k)
    climate = means.mean(axis=0)
    noise = (np.abs(means - climate) ** 2).sum(axis=0) / (n_init - 1) / n_init
    power = np.abs(climate) ** 2
    gain = np.clip(1 - CLIMATE_NOISE_MULTIPLE * np.divide(noise, power, out=np.full_like(power, np.inf),
                                                          where=power > 0), 0, 1)
    gain[..., 0] = 1.0  # the zonal mean: what the normalisation removed, known to the noise of a mean
    fields = np.fft.irfft(climate * gain, n=data.shape[-1], axis=-1)
    return fields.reshape(-1, *data.shape[-2:]).astype(np.float32)


def wiener_factor(data: np.ndarray, climate: np.ndarray, lat_deg: np.ndarray, k: int) -> np.ndarray:
    """S = τ² / (τ² + σ²/K) per channel (lead-major, as the generator's) and zonal wavenumber, τ²
    measured about the reforecast's climate.

    Args:
        data: (n_init, n_lead, n_member, V, H, W) normalised reforecast, n_member ≥ 2.
        climate: (L·V, H, W), :func:`reforecast_climate` of `data` (computed once by the caller,
            which keeps it too).
        lat_deg: (H,) latitudes, for the area weights of the pooling.
        k: the number of seeds the generator is trained to take.

    Returns:
        float32 (L·V, W // 2 + 1) in [0, 1]; 1 where there is no spread at all (nothing to shrink).
    """
    n_init, n_lead, n_member, n_var, n_lat, n_lon = data.shape
    if n_member < 2:
        raise ValueError(f"wiener_factor: the seeds' mean error needs the members' spread: "
                         f"got {n_member} member")
    if k < 1:
        raise ValueError(f"wiener_factor: k must be ≥ 1 seed, got {k}")
    if len(lat_deg) != n_lat:
        raise ValueError(f"wiener_factor: {len(lat_deg)} latitudes for fields of {n_lat}")
    anomalies = data.astype(np.float64) - climate.reshape(1, n_lead, 1, n_var, n_lat, n_lon)
    coefficients = np.fft.rfft(anomalies, axis=-1)  # (init, lead, member, var, lat, k)
    mean = coefficients.mean(axis=2)
    variance = (np.abs(coefficients - mean[:, :, None]) ** 2).sum(axis=2) / (n_member - 1)
    weights = area_weights(xr.DataArray(np.asarray(lat_deg, dtype=np.float64), dims="lat")).values
    weights = weights / weights.sum()

    def pooled(x: np.ndarray) -> np.ndarray:  # (init, lead, var, lat, k) -> (lead, var, k)
        return np.einsum("ilvhk,h->lvk", x, weights) / n_init

    sigma2 = pooled(variance)
    # E|mean of n members − c|² = τ² + σ²/n over inits: τ² is what is left when the sampling error
    # goes. (Where c is the inits' own mean, at k = 0 and kept wavenumbers, that expectation is
    # (1 − 1/n_init) of it: 4 % at 24 inits, left.)
    tau2 = np.maximum(pooled(np.abs(mean) ** 2) - sigma2 / n_member, 0.0)
    total = tau2 + sigma2 / k
    factor = np.divide(tau2, total, out=np.ones_like(total), where=total > 0)
    return factor.reshape(n_lead * n_var, -1).astype(np.float32)


def deviation_gain(factor: np.ndarray, k: int) -> np.ndarray:
    """√((1 + S/K) / (1 + 1/K)): the deviations' amplitude about S·m_K relative to that about m_K,
    per channel and wavenumber (a member's variance about the shrunk mean is σ²(1 + S/K))."""
    return np.sqrt((1 + factor / k) / (1 + 1 / k)).astype(np.float32)


def anomaly_correction(factor: np.ndarray, spread: np.ndarray, k: int) -> np.ndarray:
    """The gain (S − 1)/a per channel, latitude and wavenumber that, applied along the latitude
    circles to the seeds' mean about the climate, m_K − c, gives what moves a member from m_K + a·r
    to c + S·(m_K − c) + a·r in the generator's anomaly units r (`seeds_dag.seed_anomalies`,
    a = s·√(1 + 1/K)).

    Args:
        factor: (L·V, W // 2 + 1) from :func:`wiener_factor`; spread: (L, V, H) normalised, s.

    Returns:
        float32 (L·V, H, W // 2 + 1).
    """
    scale = spread.reshape(-1, spread.shape[-1]).astype(np.float64) * np.sqrt(1 + 1 / k)  # (L·V, H)
    if scale.shape[0] != factor.shape[0]:
        raise ValueError(f"anomaly_correction: {factor.shape[0]} channels of S for {scale.shape[0]} "
                         "of spread")
    return ((factor[:, None, :] - 1) / scale[..., None]).astype(np.float32)


def correct_members(out: Tensor, seed_mean: Tensor, climate: Tensor, correction: Tensor) -> Tensor:
    """`out` (B, L·V, H, W) anomalies plus the seeds' mean about the climate (B, L·V, H, W minus
    L·V, H, W) filtered zonally by `correction` (L·V, H, W // 2 + 1): the members then lie about the
    shrunk mean."""
    return out + filter_zonally(seed_mean - climate, correction)


def shrunk_centre(mean: np.ndarray, factor: np.ndarray, climate: np.ndarray) -> np.ndarray:
    """c + S·(m_K − c) in numpy: `mean` (..., L, V, H, W) about `climate` (L, V, H, W), each lead's
    and variable's Fourier coefficients along the latitude circles multiplied by `factor`
    (L, V, W // 2 + 1): the centre of the generator's members, for readers of them such as the
    post-processing frame."""
    anomaly = np.fft.rfft(mean.astype(np.float64) - climate, axis=-1) * factor[:, :, None, :]
    return (climate + np.fft.irfft(anomaly, n=mean.shape[-1], axis=-1)).astype(mean.dtype)
