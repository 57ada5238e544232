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
    """How the physics members' deviations go on from one latitude to the next, per variable,
    latitude pair and zonal wavenumber: ρ(v, h, k) = E[ĉ_h ĉ*_{h−1}], the complex correlation of
    their Fourier coefficients at adjacent latitudes h − 1 and h, each latitude's coefficients scaled
    to unit power, pooled over inits, leads and members. |ρ| is how alike they are; its phase how
    far east the waves sit one latitude further on: the tilt of the troughs.

    The output filters act on each latitude circle alone, so noise white in latitude stays white in
    latitude after them: members striped from one latitude to the next, which the physics members
    are not (their deviations are broad). Drawing the output noise as a chain from latitude to
    latitude with this ρ (`correlate_meridionally`) gives it the physics members' correlation and
    phase at one latitude's distance, scale by scale. Per variable, because they differ: on the
    main job's physics |ρ| at wavenumbers 1–8 is 0.80–0.89 for z500, t850, v850 and sp and 0.66–0.79
    for u850 (the wind is a meridional derivative of the height field: narrower in latitude).
    Complex and per latitude pair, because the waves tilt: at wavenumbers 4–9 the phase is +12° …
    +23° a latitude step in the southern hemisphere and −12° … −21° in the northern (troughs
    leaning towards the pole and east, as baroclinic waves that carry momentum poleward do); a real
    ρ pooled over latitudes drew upright, zonally stretched blobs.

    data: (n_init, n_lead, n_member, V, H, W) normalised reforecast, n_member ≥ 2, H ≥ 2.
    Returns complex128 (L·V, H − 1, W // 2 + 1), channels lead-major as the generator's, every lead of
    a variable alike, |ρ| at most
    MAX_MERIDIONAL_COHERENCE, real at the wavenumbers whose coefficients are real (0 and W / 2);
    0 where the members do not vary.
    """
    n_init, n_lead, n_member, n_var, n_lat, n_lon = data.shape
    if n_lat < 2:
        raise ValueError(f"meridional coherence needs at least 2 latitudes, got {data.shape}")
    coefficients = np.fft.rfft(member_deviations(data), axis=-1)  # (init, lead, member, V, lat, k)
    power = (np.abs(coefficients) ** 2).mean(axis=(0, 2), keepdims=True)
    scaled = coefficients / np.sqrt(np.where(power > 0, power, np.inf))
    lagged = scaled[..., 1:, :] * scaled[..., :-1, :].conj()
    pairs = (power[..., 1:, :] > 0) & (power[..., :-1, :] > 0)
    counted = np.broadcast_to(pairs, lagged.shape)
    total = np.where(counted, lagged, 0).sum(axis=(0, 1, 2))  # (V, lat − 1, k)
    count = counted.sum(axis=(0, 1, 2))
    rho = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    real_bins = [0, n_lon // 2] if n_lon % 2 == 0 else [0]
    rho[..., real_bins] = rho[..., real_bins].real
    magnitude = np.abs(rho)
    rho = rho * np.minimum(1.0, MAX_MERIDIONAL_COHERENCE / np.where(magnitude > 0, magnitude, 1.0))
    return np.tile(rho, (n_lead, 1, 1))


MAX_MERIDIONAL_COHERENCE = 0.99
"""Largest |ρ| kept: a chain with |ρ| = 1 would draw one value for all latitudes."""


def correlate_meridionally(white: Tensor, rho: Tensor) -> Tensor:
    """white: (B, C, H, W) N(0, 1) noise; rho: complex (C, H − 1, W // 2 + 1), ρ from latitude h − 1
    to h per channel and wavenumber (`meridional_coherence`). The noise with its Fourier coefficients
    along each latitude circle drawn as a first-order chain from latitude to latitude,
    ξ̂_h = ρ_h·ξ̂_{h−1} + √(1 − |ρ_h|²)·ŵ_h: still N(0, 1) at every point, E[ξ̂_h ξ̂*_{h−1}] = ρ_h."""
    coefficients = torch.fft.rfft(white, dim=-1)  # (B, C, H, K)
    innovation = torch.sqrt(1 - rho.abs() ** 2)
    rows = [coefficients[:, :, 0]]
    for h in range(1, white.shape[2]):
        rows.append(rho[:, h - 1] * rows[-1] + innovation[:, h - 1] * coefficients[:, :, h])
    return torch.fft.irfft(torch.stack(rows, dim=2), n=white.shape[-1], dim=-1)
