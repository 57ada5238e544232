"""Conditional U-Net F(x_in, c_noise, cond, lead) for SEEDS (Li et al. 2024) on a lat-lon grid.

Inputs are stacked as channels: the (preconditioned) noisy target, the order-invariant summary of
the K seed members (`seed_anomalies.seed_conditioning`: their mean and scaled std) and static
position channels. The noise level and lead time enter every residual block through FiLM.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seeds_dag.diffusion.edm import EDMConfig, EDMPrecond
from seeds_dag.networks.blocks import (
    FourierEmbedding,
    ResBlock,
    SelfAttention2d,
    Upsample,
    group_norm,
    sphere_conv3x3,
)


@dataclass(frozen=True)
class DenoiserConfig:
    """Architecture of `ConditionalDenoiser`; the defaults train on a CPU in minutes.

    channels: width per U-Net level, finest first; each further level halves lat and lon.
        (16, 32, 64) costs 0.21 GFLOP per sample on the 32×64 grid against 0.69 for
        (32, 64, 96), about 2.4× less CPU time: sampling hundreds of members for every init is
        what the benchmarks (skill, cost) measured as the bottleneck.
    blocks_per_level: residual blocks per level in the encoder and in the decoder.
    embed_dim: width of the (noise level, lead time) conditioning vector.
    attention_at_bottom: self-attention over all positions at the coarsest level.
    num_variables: V, the number of normalised fields per member.
    use_lon_channels: add sin/cos(lon) inputs; off makes the network equivariant to lon rolls.
    attention_heads: heads of the bottom self-attention (must divide channels[-1]).
    norm_groups: GroupNorm uses gcd(channels, norm_groups) groups.
    lead_scale_days: lead time is divided by this before embedding, to be of order one.
    embedding_periods: (min, max) periods of the Fourier features; covers c_noise = ln(σ)/4 in
        about [-1.6, 1.1] for σ in [0.002, 80] and lead / lead_scale_days in [0, 1.5].
    """

    channels: tuple[int, ...] = (16, 32, 64)
    blocks_per_level: int = 1
    embed_dim: int = 128
    attention_at_bottom: bool = True
    num_variables: int = 5
    use_lon_channels: bool = True
    attention_heads: int = 4
    norm_groups: int = 8
    lead_scale_days: float = 10.0
    embedding_periods: tuple[float, float] = (0.1, 8.0)

    @property
    def num_static_channels(self) -> int:
        return 4 if self.use_lon_channels else 2

    @property
    def in_channels(self) -> int:
        """Noisy target and the seeds' mean and scaled std (V each), plus static channels."""
        return 3 * self.num_variables + self.num_static_channels


def check_grid(num_lat: int, num_lon: int, num_levels: int) -> None:
    """Raise ValueError unless every level can halve the grid and the coarsest has even lon."""
    factor = 2 ** (num_levels - 1)
    # The pole padding shifts by 180°, so even the coarsest level needs an even longitude count.
    if num_lat % factor or num_lon % (2 * factor):
        raise ValueError(
            f"grid of shape (lat={num_lat}, lon={num_lon}) does not fit a {num_levels}-level U-Net: "
            f"lat must be divisible by {factor} and lon by {2 * factor}"
        )


def static_channels(lat_deg: np.ndarray, lon_deg: np.ndarray, use_lon_channels: bool) -> Tensor:
    """sin/cos of latitude (and of longitude) broadcast to the grid: (2 or 4, H, W) float32."""
    lat = torch.as_tensor(np.deg2rad(lat_deg), dtype=torch.float32)[:, None].expand(len(lat_deg), len(lon_deg))
    lon = torch.as_tensor(np.deg2rad(lon_deg), dtype=torch.float32)[None, :].expand(len(lat_deg), len(lon_deg))
    fields = [lat.sin(), lat.cos()] + ([lon.sin(), lon.cos()] if use_lon_channels else [])
    return torch.stack(fields)


class ConditionalDenoiser(nn.Module):
    """U-Net F(x_in, c_noise, cond, lead) on a fixed lat-lon grid given in degrees at construction."""

    def __init__(self, config: DenoiserConfig, lat_deg: np.ndarray, lon_deg: np.ndarray) -> None:
        super().__init__()
        check_grid(len(lat_deg), len(lon_deg), len(config.channels))
        self.config = config
        self.register_buffer("static", static_channels(lat_deg, lon_deg, config.use_lon_channels), persistent=False)
        embed_dim, groups = config.embed_dim, config.norm_groups
        self.noise_embedding = FourierEmbedding(embed_dim // 2, *config.embedding_periods)
        self.lead_embedding = FourierEmbedding(embed_dim // 2, *config.embedding_periods)
        self.embedding_mlp = nn.Sequential(
            nn.Linear(embed_dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim), nn.SiLU()
        )
        self.stem = sphere_conv3x3(config.in_channels, config.channels[0])

        self.encoder = nn.ModuleList()
        width_in = config.channels[0]
        for width in config.channels:
            blocks = [ResBlock(width_in, width, embed_dim, groups)]
            blocks += [ResBlock(width, width, embed_dim, groups) for _ in range(config.blocks_per_level - 1)]
            self.encoder.append(nn.ModuleList(blocks))
            width_in = width

        bottom = config.channels[-1]
        self.bottom_attention = (
            SelfAttention2d(bottom, config.attention_heads, groups) if config.attention_at_bottom else nn.Identity()
        )
        self.bottom_block = ResBlock(bottom, bottom, embed_dim, groups)

        self.decoder = nn.ModuleList()
        self.upsamplers = nn.ModuleList()
        for level in reversed(range(len(config.channels))):
            width = config.channels[level]
            blocks = [ResBlock(width_in + width, width, embed_dim, groups)]
            blocks += [ResBlock(width, width, embed_dim, groups) for _ in range(config.blocks_per_level - 1)]
            self.decoder.append(nn.ModuleList(blocks))
            width_in = config.channels[level - 1] if level > 0 else width
            self.upsamplers.append(Upsample(width, width_in) if level > 0 else nn.Identity())

        self.head = nn.Sequential(
            group_norm(width_in, groups), nn.SiLU(), sphere_conv3x3(width_in, config.num_variables)
        )

    def _check_inputs(self, x_in: Tensor, cond: Tensor) -> None:
        num_variables, grid = self.config.num_variables, tuple(self.static.shape[-2:])
        if tuple(x_in.shape[1:]) != (num_variables, *grid):
            raise ValueError(f"x_in: expected shape (batch, {num_variables}, {grid[0]}, {grid[1]}), "
                             f"got {tuple(x_in.shape)}")
        if tuple(cond.shape) != (x_in.shape[0], 2 * num_variables, *grid):
            raise ValueError(f"cond: expected shape ({x_in.shape[0]}, {2 * num_variables}, {grid[0]}, {grid[1]}) "
                             f"(seed_conditioning), got {tuple(cond.shape)}")

    def forward(self, x_in: Tensor, c_noise: Tensor, cond: Tensor, lead: Tensor) -> Tensor:
        """x_in: (B, V, H, W) scaled noisy target; c_noise: (B,); cond: (B, 2V, H, W) the seeds'
        summary (`seed_conditioning`); lead: (B,) lead time in days. Returns F: (B, V, H, W)."""
        self._check_inputs(x_in, cond)
        static = self.static.expand(x_in.shape[0], -1, -1, -1)
        h = self.stem(torch.cat([x_in, cond, static], dim=1))
        emb = torch.cat(
            [self.noise_embedding(c_noise), self.lead_embedding(lead / self.config.lead_scale_days)], dim=1
        )
        emb = self.embedding_mlp(emb)

        skips = []
        for level, blocks in enumerate(self.encoder):
            if level > 0:
                h = F.avg_pool2d(h, 2)
            for block in blocks:
                h = block(h, emb)
            skips.append(h)
        h = self.bottom_block(self.bottom_attention(h), emb)
        for blocks, upsample in zip(self.decoder, self.upsamplers):
            h = torch.cat([h, skips.pop()], dim=1)
            for block in blocks:
                h = block(h, emb)
            h = upsample(h)
        return self.head(h)


def build_denoiser(
    config: DenoiserConfig, lat_deg: np.ndarray, lon_deg: np.ndarray, edm_config: EDMConfig = EDMConfig()
) -> EDMPrecond:
    """`ConditionalDenoiser` wrapped in EDM preconditioning: D(x; σ, cond, lead)."""
    return EDMPrecond(ConditionalDenoiser(config, lat_deg, lon_deg), sigma_data=edm_config.sigma_data)
