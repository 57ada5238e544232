"""Conditional U-Net F(x_in, c_noise, cond) of the diffusion and consistency models (SEEDS, Li et
al. 2024), generating one member's whole trajectory on a lat-lon grid.

Inputs are stacked as channels: the (preconditioned) noisy trajectory (L·V channels) and the
order-invariant summary of the K seed members at every lead (`seed_anomalies.seed_conditioning`:
their mean and scaled std, 2·L·V channels). The noise level enters every residual block through
FiLM. Leads are channels, so the network relates a member's day 3 to its day 1 (one sample is
one trajectory); SEEDS itself trained one model per lead.
"""

import numpy as np
import torch
from torch import Tensor, nn

from seeds_dag.diffusion.edm import EDMConfig, EDMPrecond
from seeds_dag.networks.blocks import FourierEmbedding
from seeds_dag.networks.unet import DenoiserConfig, UNet, check_conditioning

__all__ = ["ConditionalDenoiser", "DenoiserConfig", "build_denoiser"]


class ConditionalDenoiser(nn.Module):
    """F(x_in, c_noise, cond) on a fixed lat-lon grid given in degrees at construction."""

    def __init__(self, config: DenoiserConfig, lat_deg: np.ndarray, lon_deg: np.ndarray) -> None:
        super().__init__()
        self.config = config
        channels = config.trajectory_channels
        self.noise_embedding = FourierEmbedding(config.embed_dim, *config.embedding_periods)
        self.embedding_mlp = nn.Sequential(
            nn.Linear(config.embed_dim, config.embed_dim), nn.SiLU(),
            nn.Linear(config.embed_dim, config.embed_dim), nn.SiLU(),
        )
        self.unet = UNet(config, 3 * channels, channels, lat_deg, lon_deg)

    def forward(self, x_in: Tensor, c_noise: Tensor, cond: Tensor) -> Tensor:
        """x_in: (B, L·V, H, W) scaled noisy trajectory; c_noise: (B,); cond: (B, 2·L·V, H, W) the
        seeds' summary (`seed_conditioning`). Returns F: (B, L·V, H, W)."""
        grid = self.unet.grid
        if tuple(x_in.shape[1:]) != (self.config.trajectory_channels, *grid):
            raise ValueError(f"x_in: expected shape (batch, {self.config.trajectory_channels}, {grid[0]}, "
                             f"{grid[1]}) (L·V channels), got {tuple(x_in.shape)}")
        check_conditioning(cond, x_in.shape[0], self.config, grid)
        emb = self.embedding_mlp(self.noise_embedding(c_noise))
        return self.unet(torch.cat([x_in, cond], dim=1), emb)


def build_denoiser(
    config: DenoiserConfig, lat_deg: np.ndarray, lon_deg: np.ndarray, edm_config: EDMConfig = EDMConfig()
) -> EDMPrecond:
    """`ConditionalDenoiser` wrapped in EDM preconditioning: D(x; σ, cond)."""
    return EDMPrecond(ConditionalDenoiser(config, lat_deg, lon_deg), sigma_data=edm_config.sigma_data)
