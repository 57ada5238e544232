"""How the physics members' deviations are distributed over zonal wavenumbers, and the zonal filter
that gives a one-pass generator's output that spectrum by construction.

Trained on a score of each grid point, the crps generator puts variance where the physics members
have almost none: at zonal wavenumbers ≥ 16 its members carried 1–14 × the physics members'
variance about the seeds (grid-point speckle a forecaster sees at once in a map), most of it at
wavenumbers the physics does not resolve at all (a T21 model's fields stop at 21 of the 32 a
64-point circle holds). A spectral term in the loss removes it but pulls against everything else
the loss asks for (docs/benchmarks.md).

With `DenoiserConfig.output_spectrum` the network's output w is filtered along each latitude
circle before anything else: r = F⁻¹[g · F w], F the real FFT over longitude, g(c, lat, k) the
square root of the physics members' deviation power at wavenumber k in channel c at that
latitude, normalised so that white noise keeps unit variance. White w then give r exactly the
physics members' zonal spectrum per channel and latitude; the network can still make any r at a
wavenumber the physics members vary at, and none where they do not. It runs before the output
correlation's mixing (`seeds_dag.output_correlation`): a filter per channel keeps independent
channels independent, so the mixing still gives the physics correlation at a point.

g is estimated from the reforecast the generator trains on: the deviations of each init's members
about their mean, pooled over inits and members (a few hundred complex coefficients per channel,
latitude and wavenumber: ~5 % on a power). Where the physics members' power is below
`POWER_FLOOR` of its mean over the wavenumbers of that channel and latitude, g is 0: noise at a
scale the physics does not carry is removed, not damped.
"""

import numpy as np
import torch
from torch import Tensor

from seeds_dag.output_correlation import member_deviations

POWER_FLOOR = 1e-6
"""Power at a wavenumber, relative to the mean over the circle's wavenumbers, below which the
physics members are taken not to vary there (round-off of a truncated model's fields)."""


def member_deviation_spectrum(data: np.ndarray) -> np.ndarray:
    """Gains g of the zonal filter that gives white noise the physics members' deviation spectrum.

    data: (n_init, n_lead, n_member, V, H, W) normalised reforecast, n_member ≥ 2.
    Returns float64 (L·V, H, W // 2 + 1), channels lead-major as the generator's: g ≥ 0 with
    Σ_k m(k)·g(k)² = W per channel and latitude (m(k) = 2 for the wavenumbers a real FFT folds,
    1 for 0 and, with W even, W/2), so that filtering white noise keeps its variance.
    """
    n_init, n_lead, n_member, n_var, n_lat, n_lon = data.shape
    power = (np.abs(np.fft.rfft(member_deviations(data), axis=-1)) ** 2).mean(axis=(0, 2))  # (lead, var, lat, k)
    return np.sqrt(relative_power(power.reshape(n_lead * n_var, n_lat, -1), n_lon))


def relative_power(power: np.ndarray, n_lon: int) -> np.ndarray:
    """power (..., W // 2 + 1) of a real FFT over n_lon longitudes, scaled so that Σ_k m(k)·p(k) =
    n_lon (white noise filtered by its square root keeps unit variance), 0 where below
    `POWER_FLOOR` of the mean (then scaled again so the sum still holds). Refuses a circle with no
    power, or with NaN/inf."""
    multiplicity = folded_multiplicity(n_lon)
    total = (multiplicity * power).sum(axis=-1, keepdims=True)
    if not np.all(np.isfinite(total)) or np.any(total <= 0):
        raise ValueError("a channel's member deviations are zero or non-finite at some latitude: identical "
                         "members or NaN/inf in the reforecast")
    relative = power * n_lon / total  # mean over the circle's n_lon wavenumbers: 1
    relative = np.where(relative < POWER_FLOOR, 0.0, relative)
    # Renormalise after the floor so white noise keeps exactly unit variance.
    return relative * n_lon / (multiplicity * relative).sum(axis=-1, keepdims=True)


def folded_multiplicity(n_lon: int) -> np.ndarray:
    """How many of a length-n_lon FFT's wavenumbers each real-FFT bin stands for (1 or 2)."""
    multiplicity = np.full(n_lon // 2 + 1, 2.0)
    multiplicity[0] = 1.0
    if n_lon % 2 == 0:
        multiplicity[-1] = 1.0
    return multiplicity


def filter_zonally(x: Tensor, gains: Tensor) -> Tensor:
    """x: (B, C, H, W) real fields; gains: (C, H, W // 2 + 1). Each channel and latitude circle of x
    with its Fourier coefficients multiplied by the gains."""
    return torch.fft.irfft(torch.fft.rfft(x, dim=-1) * gains, n=x.shape[-1], dim=-1)
