"""One-pass generator G(z, cond): a member's whole trajectory from a noise vector and the seeds,
in one network evaluation (after FGN, Alet et al. 2025, and ECMWF's AIFS-CRPS, Lang et al. 2024).

The noise is one low-dimensional vector z ~ N(0, I) per member. It enters through conditional
normalisation: an MLP maps z to the embedding that scales and shifts the normalised features of
every residual block (FiLM, the U-Net's `ResBlock`), with parameters shared over the grid. So a
member differs from another by a smooth, global modulation of features computed from the seeds,
not by pixel noise that the network would have to learn to smooth away; its spatial structure
comes from the seeds. Trained on the (almost) fair CRPS over several members per example
(`seeds_dag.generators.crps`), which rewards exactly the right spread.
"""

import numpy as np
from torch import Tensor, nn

from seeds_dag.networks.unet import DenoiserConfig, UNet, check_conditioning


class NoiseGenerator(nn.Module):
    """G(z, cond) -> (B, L·V, H, W) anomaly trajectories, on a fixed lat-lon grid (degrees)."""

    def __init__(self, config: DenoiserConfig, lat_deg: np.ndarray, lon_deg: np.ndarray) -> None:
        super().__init__()
        self.config = config
        self.noise_mlp = nn.Sequential(
            nn.Linear(config.noise_dim, config.embed_dim), nn.SiLU(),
            nn.Linear(config.embed_dim, config.embed_dim), nn.SiLU(),
        )
        self.unet = UNet(config, 2 * config.trajectory_channels, config.trajectory_channels, lat_deg, lon_deg)

    def forward(self, z: Tensor, cond: Tensor) -> Tensor:
        """z: (B, noise_dim) standard normal; cond: (B, 2·L·V, H, W) the seeds' summary
        (`seed_conditioning`). Returns (B, L·V, H, W)."""
        if z.ndim != 2 or z.shape[1] != self.config.noise_dim:
            raise ValueError(f"z: expected shape (batch, {self.config.noise_dim}), got {tuple(z.shape)}")
        check_conditioning(cond, z.shape[0], self.config, self.unet.grid)
        return self.unet(cond, self.noise_mlp(z))
