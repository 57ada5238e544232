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

from seeds_dag.output_spectrum import POWER_FLOOR, folded_multiplicity

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
    if n_member < 2:
        raise ValueError(f"member deviations need at least 2 members, got {n_member}")
    if not 0 <= shrinkage <= 1:
        raise ValueError(f"shrinkage must lie in [0, 1], got {shrinkage}")
    x = data.astype(np.float64)
    deviations = x - x.mean(axis=2, keepdims=True)
    coefficients = np.fft.rfft(deviations, axis=-1)  # (init, lead, member, var, lat, k)
    samples = coefficients.transpose(0, 2, 4, 5, 1, 3).reshape(n_init * n_member, n_lat, -1, n_lead * n_var)
    cross = np.einsum("nhki,nhkj->hkij", samples, samples.conj()) / len(samples)
    power = np.einsum("hkii->hki", cross).real  # (lat, k, channel)
    multiplicity = folded_multiplicity(n_lon)[None, :, None]
    total = (multiplicity * power).sum(axis=1, keepdims=True)
    if not np.all(np.isfinite(total)) or np.any(total <= 0):
        raise ValueError("a channel's member deviations are zero or non-finite at some latitude: identical "
                         "members or NaN/inf in the reforecast")
    relative = power * n_lon / total
    kept = relative >= POWER_FLOOR
    relative = np.where(kept, relative, 0.0)
    relative *= n_lon / (multiplicity * relative).sum(axis=1, keepdims=True)
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
