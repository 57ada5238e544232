"""One-pass generator G(z, cond, ε): a member's whole trajectory from its noise and the seeds, in
one network evaluation (after FGN, Alet et al. 2025, ECMWF's AIFS-CRPS, Lang et al. 2024, and
FourCastNet 3).

A member's noise has two parts. z ~ N(0, I), one low-dimensional vector, enters through
conditional normalisation: an MLP maps z to the embedding that scales and shifts the normalised
features of every residual block (FiLM, the U-Net's `ResBlock`), with parameters shared over the
grid, as FGN does. Alone it moves a member only by a smooth, global modulation of features
computed from the seeds, so members cannot differ independently in different regions. So, with
`noise_channels` = k > 0, a member also has ε: k fields of i.i.d. N(0, 1) on the U-Net's coarsest
grid (H/2^(levels−1) × W/2^(levels−1), 8 × 16 for 3 levels on 32 × 64), added to the features
there (`UNet`). The convolutions after it give it spatial correlation, and the decoder maps it to
every lead and variable: one perturbation field shared by the whole trajectory, as FourCastNet 3's
spatially correlated noise. `noise_levels` > 1 adds such fields on finer levels too, and
`noise_dim` = 0 leaves z out (DenoiserConfig says what each did to the members). Trained on the
(almost) fair CRPS over several members per example (`seeds_dag.generators.crps`), which rewards
exactly the right spread.

What the network gives is then given the physics members' structure: by default (`output_noise`)
noise ξ at every grid point and channel is added (white over channels and along each latitude
circle, correlated from latitude to latitude as the physics members are), and (`output_cross_spectrum`) the sum is
filtered per latitude and zonal wavenumber by the square root of the physics members'
cross-spectral matrix between leads and variables, so that the white part of a member has exactly
their spectra and relations, between variables, between leads and between places along a latitude
circle (`seeds_dag.output_cross_spectrum`; `output_spectrum` and `output_correlation` are the
measured alternatives of a zonal filter per channel and a mixing at a point).
"""

import numpy as np
import torch
from torch import Tensor, nn

from seeds_dag.networks.unet import DenoiserConfig, UNet, check_conditioning, noise_grids
from seeds_dag.output_cross_spectrum import correlate_meridionally, filter_cross_spectrally
from seeds_dag.output_spectrum import filter_zonally
from seeds_dag.seed_mean_shrinkage import correct_members


OUTPUT_NOISE_LOG_RANGE = 2.0
"""Bound of ξ's log-amplitude map (`DenoiserConfig.output_noise_map`): a factor e^±2 at most, so that
a map the network has not learnt yet cannot silence ξ or blow it up."""


def noise_shapes(config: DenoiserConfig, grid: tuple[int, int]) -> list[tuple[int, ...]]:
    """One member's noise inputs on a (lat, lon) grid, in the order they are drawn: z
    (noise_dim,), then, when noise_channels > 0, ε (noise_channels, *grid of the level) for each of
    the `noise_levels` coarsest U-Net levels, coarsest first, then, with `output_noise`, ξ
    (L·V, *grid): white noise for every channel and grid point, added to the network's output."""
    shapes = [(config.noise_dim,)] + [(config.noise_channels, *level) for level in noise_grids(grid, config)]
    if config.output_noise:
        shapes.append((config.trajectory_channels, *grid))
    return shapes


def _chain_of_one_rho(module: nn.Module, state_dict: dict, prefix: str, *_) -> None:
    """A model file written while ξ's chain in latitude was one real ρ(k) for every channel and
    latitude holds it as (W // 2 + 1,): read as that ρ for each, the chain it was trained with."""
    key = f"{prefix}output_noise_meridional"
    rho = state_dict.get(key)
    if rho is not None and rho.ndim == 1:
        channels, pairs = module.output_noise_meridional.shape[:2]
        chain = torch.complex(rho, torch.zeros_like(rho)).expand(channels, pairs, -1)
        state_dict[key] = torch.view_as_real(chain).clone()


class NoiseGenerator(nn.Module):
    """G(z, cond, ε) -> (B, L·V, H, W) anomaly trajectories, on a fixed lat-lon grid (degrees)."""

    def __init__(self, config: DenoiserConfig, lat_deg: np.ndarray, lon_deg: np.ndarray) -> None:
        super().__init__()
        if not (config.noise_dim or config.noise_channels):
            raise ValueError("a one-pass generator needs noise: noise_dim (z) or noise_channels (ε) must be > 0")
        self.config = config
        # Without z, every block's FiLM embedding is one learned vector (the MLP would map an empty
        # input to its bias: the same function, less clearly).
        self.noise_mlp = nn.Sequential(
            nn.Linear(config.noise_dim, config.embed_dim), nn.SiLU(),
            nn.Linear(config.embed_dim, config.embed_dim), nn.SiLU(),
        ) if config.noise_dim else None
        self.constant_embedding = None if config.noise_dim else nn.Parameter(torch.zeros(config.embed_dim))
        # With the map (a map of ξ's amplitude: none without ξ), the network's last layer gives the
        # log-amplitude of ξ after the output.
        self.noise_map = config.output_noise and config.output_noise_map
        out_channels = config.trajectory_channels * (2 if self.noise_map else 1)
        self.unet = UNet(config, 2 * config.trajectory_channels, out_channels, lat_deg, lon_deg, noisy=True)
        if self.noise_map:
            with torch.no_grad():  # a = 0 before training: the constant amplitude
                last = self.unet.head[-1][-1]
                last.weight[config.trajectory_channels:].zero_()
                last.bias[config.trajectory_channels:].zero_()
        if config.output_correlation:
            # S(lat), set from the reforecast before training (`set_output_correlation`) and kept in
            # the state dict, so a reloaded model mixes as it was trained to.
            channels = config.trajectory_channels
            self.register_buffer("output_mixing", torch.eye(channels).expand(len(lat_deg), -1, -1).clone())
        else:
            self.output_mixing = None
        if config.output_cross_spectrum and (config.output_correlation or config.output_spectrum):
            raise ValueError("output_cross_spectrum replaces output_correlation and output_spectrum: "
                             "turn those off")
        if config.output_cross_spectrum:
            # M(lat, k), set from the reforecast before training (`set_output_cross_spectrum`) and
            # kept in the state dict; identities pass w on. Kept as real and imaginary parts
            # (torch.view_as_real), so that what moves or averages a model's buffers (EMA, DDP's
            # broadcast, device moves) sees real tensors only.
            channels, wavenumbers = config.trajectory_channels, len(lon_deg) // 2 + 1
            identity = torch.view_as_real(torch.eye(channels, dtype=torch.complex64))
            self.register_buffer("output_cross_root", identity.expand(len(lat_deg), wavenumbers, -1, -1, -1).clone())
        else:
            self.output_cross_root = None
        if config.output_noise and not (config.output_cross_spectrum or config.output_spectrum):
            raise ValueError("output_noise needs an output filter (output_cross_spectrum or output_spectrum): "
                             "unfiltered, white noise at every grid point is speckle")
        # The amplitude of ξ per channel, learned.
        initial_scale = torch.full((config.trajectory_channels,), config.output_noise_initial_scale)
        self.output_noise_scale = nn.Parameter(initial_scale) if config.output_noise else None
        if config.output_noise:
            # ρ(channel, latitude pair, k) of ξ from latitude to latitude, complex, set from the
            # reforecast before training (`set_output_noise_meridional`) and kept as real and
            # imaginary parts as the cross-spectral root is; zeros leave ξ white.
            shape = (config.trajectory_channels, len(lat_deg) - 1, len(lon_deg) // 2 + 1, 2)
            self.register_buffer("output_noise_meridional", torch.zeros(shape))
            self.register_load_state_dict_pre_hook(_chain_of_one_rho)
        else:
            self.output_noise_meridional = None
        if config.seed_mean_shrinkage:
            # S (channel, wavenumber), (S − 1)/a (channel, lat, wavenumber) and the climate c (channel,
            # lat, lon), set from the reforecast before training (`set_seed_mean_shrinkage`) and kept
            # in the state dict; S and c are what readers of the members' centre take (the
            # post-processing frame), the correction what forward adds. Ones and zeros leave the
            # seeds' mean as it is.
            channels, wavenumbers = config.trajectory_channels, len(lon_deg) // 2 + 1
            self.register_buffer("seed_mean_factor", torch.ones(channels, wavenumbers))
            self.register_buffer("seed_mean_correction", torch.zeros(channels, len(lat_deg), wavenumbers))
            self.register_buffer("seed_mean_climate", torch.zeros(channels, len(lat_deg), len(lon_deg)))
        else:
            self.seed_mean_factor = self.seed_mean_correction = self.seed_mean_climate = None
        if config.output_spectrum:
            # g(channel, lat, wavenumber), set from the reforecast before training
            # (`set_output_spectrum`) and kept in the state dict like the mixing; all ones pass w on.
            self.register_buffer("output_gains", torch.ones(config.trajectory_channels, len(lat_deg),
                                                            len(lon_deg) // 2 + 1))
        else:
            self.output_gains = None

    def set_output_correlation(self, mixing: Tensor) -> None:
        """Mix the output channels by `mixing` (H, L·V, L·V), the square root of the physics members'
        correlation (`output_correlation.correlation_square_root`)."""
        self._set_output_buffer(self.output_mixing, mixing, "output_correlation", "output mixing")

    def set_output_spectrum(self, gains: Tensor) -> None:
        """Filter each output channel along the latitude circles by `gains` (L·V, H, W // 2 + 1), the
        physics members' zonal spectrum of deviations (`output_spectrum.member_deviation_spectrum`)."""
        self._set_output_buffer(self.output_gains, gains, "output_spectrum", "output gains")

    def set_seed_mean_shrinkage(self, factor: Tensor, correction: Tensor, climate: Tensor) -> None:
        """Move the members from about the seeds' mean m_K to about c + S·(m_K − c): `factor` S
        (L·V, W // 2 + 1) is `seed_mean_shrinkage.wiener_factor`, `correction` (L·V, H, W // 2 + 1)
        its `anomaly_correction`, applied to the seeds' mean in cond about `climate` c (L·V, H, W,
        `reforecast_climate`)."""
        self._set_output_buffer(self.seed_mean_factor, factor, "seed_mean_shrinkage", "seed-mean factor")
        self._set_output_buffer(self.seed_mean_climate, climate, "seed_mean_shrinkage", "seed-mean climate")
        self._set_output_buffer(self.seed_mean_correction, correction, "seed_mean_shrinkage",
                                "seed-mean correction")

    def set_output_noise_meridional(self, rho: Tensor) -> None:
        """Draw ξ as a chain from latitude to latitude with complex correlation `rho` (L·V, H − 1,
        W // 2 + 1) per channel, latitude pair and zonal wavenumber
        (`output_cross_spectrum.meridional_coherence`)."""
        self._set_complex_buffer(self.output_noise_meridional, rho, "output_noise", "output noise coherence")

    @property
    def output_noise_chain(self) -> Tensor | None:
        """ρ (L·V, H − 1, W // 2 + 1), complex, or None without output_noise."""
        chain = self.output_noise_meridional
        return None if chain is None else torch.view_as_complex(chain)

    @staticmethod
    def _set_output_buffer(buffer: Tensor | None, value: Tensor, field: str, what: str) -> None:
        """Copy `value` into one of the output structure's buffers (None where the generator was
        built without `field`), refusing another shape by name."""
        if buffer is None:
            raise ValueError(f"this generator was built without {field}")
        if value.shape != buffer.shape:
            raise ValueError(f"{what}: expected shape {tuple(buffer.shape)}, got {tuple(value.shape)}")
        buffer.copy_(value)

    @staticmethod
    def _set_complex_buffer(buffer: Tensor | None, value: Tensor, field: str, what: str) -> None:
        """`_set_output_buffer` for a complex `value` kept as real and imaginary parts (the last dim
        of `buffer`, as torch.view_as_real lays them out)."""
        if buffer is None:
            raise ValueError(f"this generator was built without {field}")
        expected = buffer.shape[:-1]
        if value.shape != expected or not value.is_complex():
            raise ValueError(f"{what}: expected complex of shape {tuple(expected)}, "
                             f"got {value.dtype} of shape {tuple(value.shape)}")
        buffer.copy_(torch.view_as_real(value))

    def set_output_cross_spectrum(self, root: Tensor) -> None:
        """Filter the output by `root` (H, W // 2 + 1, L·V, L·V) complex, the square root of the
        physics members' cross-spectral matrices (`output_cross_spectrum`)."""
        self._set_complex_buffer(self.output_cross_root, root, "output_cross_spectrum",
                                 "output cross-spectral root")

    @property
    def output_cross_spectral_root(self) -> Tensor | None:
        """M (H, W // 2 + 1, L·V, L·V), complex, or None without output_cross_spectrum."""
        return None if self.output_cross_root is None else torch.view_as_complex(self.output_cross_root)

    def forward(self, z: Tensor, cond: Tensor, *spatial_noise: Tensor) -> Tensor:
        """z: (B, noise_dim) standard normal ((B, 0) without z); cond: (B, 2·L·V, H, W) the seeds' summary
        (`seed_conditioning`); spatial_noise: ε, standard normal fields (B, noise_channels, *grid)
        on each grid of `unet.noise_grids`, coarsest first, required when noise_channels > 0 and
        refused otherwise, then ξ (B, L·V, H, W) with `output_noise` (`noise_shapes` lists them
        all). Returns (B, L·V, H, W)."""
        if z.ndim != 2 or z.shape[1] != self.config.noise_dim:
            raise ValueError(f"z: expected shape (batch, {self.config.noise_dim}), got {tuple(z.shape)}")
        check_conditioning(cond, z.shape[0], self.config, self.unet.grid)
        if self.noise_mlp is None:
            embedding = self.constant_embedding.expand(z.shape[0], -1)
        else:
            embedding = self.noise_mlp(z)
        if self.output_noise_scale is not None:
            if not spatial_noise or spatial_noise[-1].shape != (z.shape[0], self.config.trajectory_channels,
                                                                *self.unet.grid):
                raise ValueError("output_noise: the last noise input must be ξ of shape "
                                 f"{(z.shape[0], self.config.trajectory_channels, *self.unet.grid)}")
            *spatial_noise, white = spatial_noise
        out = self.unet(cond, embedding, *spatial_noise)
        if self.output_noise_scale is not None:
            # Filtered below like the network's own output: white ξ then carries exactly the physics
            # members' spectra and relations between channels.
            amplitude = self.output_noise_scale[:, None, None]
            if self.noise_map:
                out, log_amplitude = out.split(self.config.trajectory_channels, dim=1)
                bound = OUTPUT_NOISE_LOG_RANGE
                amplitude = amplitude * torch.exp(bound * torch.tanh(log_amplitude / bound))
            out = out + amplitude * correlate_meridionally(white, self.output_noise_chain)
        if self.output_cross_root is not None:
            out = filter_cross_spectrally(out, self.output_cross_spectral_root)
        elif self.output_gains is not None:
            out = filter_zonally(out, self.output_gains)
        if self.output_mixing is not None:
            out = torch.einsum("hij,bjhw->bihw", self.output_mixing, out)
        if self.seed_mean_correction is None:
            return out
        # cond's first L·V channels are the seeds' mean (`seed_anomalies.seed_conditioning`).
        return correct_members(out, cond[:, : self.config.trajectory_channels], self.seed_mean_climate,
                               self.seed_mean_correction)
