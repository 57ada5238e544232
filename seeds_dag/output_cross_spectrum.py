"""How the physics members' deviations go together across channels *and* along each latitude
circle, and the filter that gives a one-pass generator's output that structure by construction.

`output_correlation` gives the output the physics members' correlation between channels at a
point, and `output_spectrum` each channel's zonal spectrum. Neither holds relations at a distance:
geostrophic balance ties v850 to the zonal gradient of surface pressure, a quarter wavelength
away, so the two are uncorrelated at a point yet strongly related; a generator mixed at a point
put them in phase (correlations of ±0.5 changing sign from lead to lead where physics' are ~0).

With `DenoiserConfig.output_cross_spectrum` the network's output w is filtered per latitude and
zonal wavenumber k by a complex matrix: r̂(k) = M(lat, k)·ŵ(k), ŵ the real FFT of w over
longitude, M the Hermitian square root of the physics members' cross-spectral matrix between all
L·V channels at that latitude and wavenumber. White w (over channels and longitude) then give r
the physics members' covariance at every zonal lag between every pair of channels: spectra,
correlations at a point, and phase-shifted relations alike (a zonally stationary Gaussian field
with the physics members' second moments). The network can still make any r at wavenumbers the
physics members vary at.

The matrix is estimated from the reforecast the generator trains on: the Fourier coefficients of
the deviations of each init's members about their mean, pooled over inits and members (about a
hundred complex samples per latitude and wavenumber for a 30 × 30 matrix: noisy off its
diagonal), so each matrix's coherence is shrunk towards none by `SHRINKAGE`. Each channel's power
is normalised as `output_spectrum`'s gains are (white noise keeps unit variance), and wavenumbers
where a channel's power is below `output_spectrum.POWER_FLOOR` are removed.
"""

import numpy as np
import torch
from torch import Tensor

from seeds_dag.output_correlation import member_deviations
from seeds_dag.output_spectrum import relative_power

SHRINKAGE = 0.1
"""Weight of the diagonal in the shrunk cross-spectral matrix (1 − SHRINKAGE)·X + SHRINKAGE·diag(X)."""


def member_deviation_cross_spectrum(data: np.ndarray, shrinkage: float = SHRINKAGE) -> np.ndarray:
    """Cross-spectral matrices of the physics members' deviations per latitude and zonal wavenumber.

    data: (n_init, n_lead, n_member, V, H, W) normalised reforecast, n_member ≥ 2.
    Returns complex128 (H, W // 2 + 1, L·V, L·V), channels lead-major as the generator's, Hermitian
    and positive semi-definite, each channel's diagonal normalised so that Σ_k m(k)·X_cc(k) = W
    (m(k) the real FFT's fold count), i.e. white noise filtered by its square root keeps unit
    variance; the coherence shrunk towards none by `shrinkage`.
    """
    n_init, n_lead, n_member, n_var, n_lat, n_lon = data.shape
    if not 0 <= shrinkage <= 1:
        raise ValueError(f"shrinkage must lie in [0, 1], got {shrinkage}")
    coefficients = np.fft.rfft(member_deviations(data), axis=-1)  # (init, lead, member, var, lat, k)
    samples = coefficients.transpose(0, 2, 4, 5, 1, 3).reshape(n_init * n_member, n_lat, -1, n_lead * n_var)
    cross = np.einsum("nhki,nhkj->hkij", samples, samples.conj()) / len(samples)
    power = np.einsum("hkii->hki", cross).real  # (lat, k, channel)
    relative = relative_power(power.swapaxes(1, 2), n_lon).swapaxes(1, 2)
    kept = relative > 0
    # Coherence (unit diagonal where a channel varies), shrunk, then scaled by the normalised power.
    scale = np.sqrt(np.where(kept, power, 1.0))
    coherence = cross / (scale[..., :, None] * scale[..., None, :])
    coherence = np.where(kept[..., :, None] & kept[..., None, :], coherence, 0.0)
    eye = np.eye(n_lead * n_var)
    coherence = (1 - shrinkage) * coherence + shrinkage * coherence * eye
    amplitude = np.sqrt(relative)
    return coherence * amplitude[..., :, None] * amplitude[..., None, :]


def hermitian_square_root(matrices: np.ndarray) -> Tensor:
    """The Hermitian square root M of each (…, C, C) positive semi-definite Hermitian matrix
    (M·M = X), complex64; eigenvalues below round-off are taken as 0."""
    values, vectors = np.linalg.eigh(matrices)
    floor = 1e-9 * np.abs(values).max(axis=-1, keepdims=True)
    if np.any(values < -floor):
        raise ValueError(f"cross-spectral matrix is not positive semi-definite (eigenvalue {values.min():.3g})")
    root = np.einsum("...ik,...k,...jk->...ij", vectors, np.sqrt(np.clip(values, 0, None)), vectors.conj())
    return torch.from_numpy(root.astype(np.complex64))


def filter_cross_spectrally(x: Tensor, root: Tensor) -> Tensor:
    """x: (B, C, H, W) real fields; root: (H, W // 2 + 1, C, C) complex. The fields whose Fourier
    coefficients along each latitude circle are mixed across channels by root at each wavenumber."""
    coefficients = torch.fft.rfft(x, dim=-1)  # (B, C, H, K)
    mixed = torch.einsum("hkij,bjhk->bihk", root, coefficients)
    return torch.fft.irfft(mixed, n=x.shape[-1], dim=-1)


def meridional_coherence(data: np.ndarray) -> np.ndarray:
    """How alike the physics members' deviations are from one latitude to the next, per zonal
    wavenumber: ρ(k), the correlation of their Fourier coefficients at adjacent latitudes, each
    channel's and latitude's coefficients scaled to unit power, pooled over channels and latitudes.

    The output filters act on each latitude circle alone, so noise white in latitude stays white in
    latitude after them: members striped from one latitude to the next, which the physics members
    are not (their deviations are broad). Drawing the output noise as a chain from latitude to
    latitude with this ρ(k) (`correlate_meridionally`) gives it the physics members' correlation at
    one latitude's distance, scale by scale.

    data: (n_init, n_lead, n_member, V, H, W) normalised reforecast, n_member ≥ 2, H ≥ 2.
    Returns float64 (W // 2 + 1,) in [0, MAX_MERIDIONAL_COHERENCE]; 0 where the members do not vary.
    """
    if data.shape[4] < 2:
        raise ValueError(f"meridional coherence needs at least 2 latitudes, got {data.shape}")
    coefficients = np.fft.rfft(member_deviations(data), axis=-1)  # (..., V, lat, k)
    power = (np.abs(coefficients) ** 2).mean(axis=(0, 2), keepdims=True)
    scaled = coefficients / np.sqrt(np.where(power > 0, power, np.inf))
    lagged = (scaled[..., 1:, :] * scaled[..., :-1, :].conj()).real
    pairs = (power[..., 1:, :] > 0) & (power[..., :-1, :] > 0)
    counted = np.broadcast_to(pairs, lagged.shape)
    total = np.where(counted, lagged, 0).sum(axis=(0, 1, 2, 3, 4))
    count = counted.sum(axis=(0, 1, 2, 3, 4))
    rho = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return np.clip(rho, 0.0, MAX_MERIDIONAL_COHERENCE)


MAX_MERIDIONAL_COHERENCE = 0.99
"""Largest ρ(k) kept: a chain with ρ = 1 would draw one value for all latitudes."""


def correlate_meridionally(white: Tensor, rho: Tensor) -> Tensor:
    """white: (B, C, H, W) N(0, 1) noise; rho: (W // 2 + 1,). The noise with its Fourier coefficients
    along each latitude circle drawn as a stationary first-order chain from latitude to latitude,
    ξ̂_h = ρ·ξ̂_{h−1} + √(1 − ρ²)·ŵ_h: still N(0, 1) at every point, correlated ρ(k) at wavenumber k
    between adjacent latitudes."""
    coefficients = torch.fft.rfft(white, dim=-1)  # (B, C, H, K)
    innovation = torch.sqrt(1 - rho**2)
    rows = [coefficients[:, :, 0]]
    for h in range(1, white.shape[2]):
        rows.append(rho * rows[-1] + innovation * coefficients[:, :, h])
    return torch.fft.irfft(torch.stack(rows, dim=2), n=white.shape[-1], dim=-1)
