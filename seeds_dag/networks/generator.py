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
"""

import numpy as np
import torch
from torch import Tensor, nn

from seeds_dag.networks.unet import DenoiserConfig, UNet, check_conditioning, noise_grids


def noise_shapes(config: DenoiserConfig, grid: tuple[int, int]) -> list[tuple[int, ...]]:
    """One member's noise inputs on a (lat, lon) grid, in the order they are drawn: z
    (noise_dim,), then, when noise_channels > 0, ε (noise_channels, *grid of the level) for each of
    the `noise_levels` coarsest U-Net levels, coarsest first."""
    return [(config.noise_dim,)] + [(config.noise_channels, *level) for level in noise_grids(grid, config)]


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
        self.unet = UNet(config, 2 * config.trajectory_channels, config.trajectory_channels, lat_deg, lon_deg,
                         noisy=True)
        if config.output_correlation:
            # S(lat), set from the reforecast before training (`set_output_correlation`) and kept in
            # the state dict, so a reloaded model mixes as it was trained to.
            channels = config.trajectory_channels
            self.register_buffer("output_mixing", torch.eye(channels).expand(len(lat_deg), -1, -1).clone())
        else:
            self.output_mixing = None

    def set_output_correlation(self, mixing: Tensor) -> None:
        """Mix the output channels by `mixing` (H, L·V, L·V), the square root of the physics members'
        correlation (`output_correlation.correlation_square_root`)."""
        if self.output_mixing is None:
            raise ValueError("this generator was built without output_correlation")
        if mixing.shape != self.output_mixing.shape:
            raise ValueError(f"output mixing: expected shape {tuple(self.output_mixing.shape)}, got {tuple(mixing.shape)}")
        self.output_mixing.copy_(mixing)

    def forward(self, z: Tensor, cond: Tensor, *spatial_noise: Tensor) -> Tensor:
        """z: (B, noise_dim) standard normal ((B, 0) without z); cond: (B, 2·L·V, H, W) the seeds' summary
        (`seed_conditioning`); spatial_noise: ε, standard normal fields (B, noise_channels, *grid)
        on each grid of `unet.noise_grids`, coarsest first, required when noise_channels > 0 and
        refused otherwise (`noise_shapes` lists them all). Returns (B, L·V, H, W)."""
        if z.ndim != 2 or z.shape[1] != self.config.noise_dim:
            raise ValueError(f"z: expected shape (batch, {self.config.noise_dim}), got {tuple(z.shape)}")
        check_conditioning(cond, z.shape[0], self.config, self.unet.grid)
        if self.noise_mlp is None:
            embedding = self.constant_embedding.expand(z.shape[0], -1)
        else:
            embedding = self.noise_mlp(z)
        out = self.unet(cond, embedding, *spatial_noise)
        if self.output_mixing is None:
            return out
        return torch.einsum("hij,bjhw->bihw", self.output_mixing, out)
