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
spatially correlated noise. Trained on the (almost) fair CRPS over several members per example
(`seeds_dag.generators.crps`), which rewards exactly the right spread.
"""

import numpy as np
from torch import Tensor, nn

from seeds_dag.networks.unet import DenoiserConfig, UNet, check_conditioning, coarse_grid


def noise_shapes(config: DenoiserConfig, grid: tuple[int, int]) -> list[tuple[int, ...]]:
    """One member's noise inputs on a (lat, lon) grid, in the order they are drawn: z
    (noise_dim,), then, when noise_channels > 0, ε (noise_channels, *coarsest U-Net grid)."""
    shapes = [(config.noise_dim,)]
    if config.noise_channels:
        shapes.append((config.noise_channels, *coarse_grid(grid, len(config.channels))))
    return shapes


class NoiseGenerator(nn.Module):
    """G(z, cond, ε) -> (B, L·V, H, W) anomaly trajectories, on a fixed lat-lon grid (degrees)."""

    def __init__(self, config: DenoiserConfig, lat_deg: np.ndarray, lon_deg: np.ndarray) -> None:
        super().__init__()
        self.config = config
        self.noise_mlp = nn.Sequential(
            nn.Linear(config.noise_dim, config.embed_dim), nn.SiLU(),
            nn.Linear(config.embed_dim, config.embed_dim), nn.SiLU(),
        )
        self.unet = UNet(config, 2 * config.trajectory_channels, config.trajectory_channels, lat_deg, lon_deg,
                         coarse_noise_channels=config.noise_channels)

    def forward(self, z: Tensor, cond: Tensor, coarse_noise: Tensor | None = None) -> Tensor:
        """z: (B, noise_dim) standard normal; cond: (B, 2·L·V, H, W) the seeds' summary
        (`seed_conditioning`); coarse_noise: ε, (B, noise_channels, *unet.coarse_grid) standard
        normal, required when noise_channels > 0 and refused otherwise. Returns (B, L·V, H, W)."""
        if z.ndim != 2 or z.shape[1] != self.config.noise_dim:
            raise ValueError(f"z: expected shape (batch, {self.config.noise_dim}), got {tuple(z.shape)}")
        check_conditioning(cond, z.shape[0], self.config, self.unet.grid)
        return self.unet(cond, self.noise_mlp(z), coarse_noise)
