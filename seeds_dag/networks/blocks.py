"""Sphere-aware U-Net building blocks over (batch, channel, lat, lon) tensors.

Latitude is ascending on an equiangular grid without pole points; longitude is periodic. Every
3x3 convolution is preceded by `SpherePad2d`, so no block ever sees zero padding.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

RESIDUAL_SCALE = math.sqrt(0.5)
"""Scale of a residual sum, as EDM's skip_scale: keeps the sum of two unit-variance branches at unit variance."""


class SpherePad2d(nn.Module):
    """Pad (B, C, H, W) lat-lon fields by `width` cells the way the sphere continues them.

    Longitude wraps around. Beyond a pole, the row at distance k past the pole at longitude λ is
    the row at distance k before it at λ + 180° (which needs an even number of longitudes).

    Vector components (u, v) truly change sign across the pole; we do not flip them. Only the
    input layer's channels are physical variables; after one convolution every channel mixes
    all variables, so no per-channel sign rule exists. The pole rows are a one-cell seam that
    the network learns around, as with any padding.
    """

    def __init__(self, width: int = 1) -> None:
        super().__init__()
        self.width = width

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) -> (B, C, H + 2·width, W + 2·width)."""
        num_lat, num_lon = x.shape[-2:]
        if num_lon % 2 or num_lat < self.width:
            raise ValueError(
                f"SpherePad2d(width={self.width}) needs an even number of longitudes and at least "
                f"{self.width} latitudes, got field of shape {tuple(x.shape)}"
            )
        p, half_turn = self.width, num_lon // 2
        beyond_south = x[..., :p, :].flip(-2).roll(half_turn, dims=-1)
        beyond_north = x[..., -p:, :].flip(-2).roll(half_turn, dims=-1)
        x = torch.cat([beyond_south, x, beyond_north], dim=-2)
        return torch.cat([x[..., -p:], x, x[..., :p]], dim=-1)


def sphere_conv3x3(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution on the sphere: `SpherePad2d(1)` then an unpadded conv; keeps (H, W)."""
    return nn.Sequential(SpherePad2d(1), nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=0))


def group_norm(channels: int, max_groups: int) -> nn.GroupNorm:
    """GroupNorm with gcd(channels, max_groups) groups, a count that always divides `channels`."""
    return nn.GroupNorm(math.gcd(channels, max_groups), channels)


class FourierEmbedding(nn.Module):
    """Sinusoidal features of one scalar per sample: (B,) -> (B, num_channels).

    Periods are geometric between min_period and max_period: the shortest resolves small changes,
    the longest keeps the map one-to-one over inputs spanning less than half of it.
    """

    def __init__(self, num_channels: int, min_period: float, max_period: float) -> None:
        super().__init__()
        if num_channels % 2:
            raise ValueError(f"FourierEmbedding needs an even num_channels, got {num_channels}")
        periods = torch.logspace(math.log10(max_period), math.log10(min_period), num_channels // 2)
        self.register_buffer("angular_frequencies", 2 * math.pi / periods, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        phase = x[:, None] * self.angular_frequencies
        return torch.cat([phase.cos(), phase.sin()], dim=1)


class ResBlock(nn.Module):
    """Residual block conditioned by FiLM: (B, C_in, H, W), emb (B, E) -> (B, C_out, H, W).

    GroupNorm, SiLU, conv; GroupNorm, FiLM (scale, shift from emb), SiLU, conv; plus a skip
    (1x1 conv when the channel count changes), as EDM's UNetBlock with adaptive scale.
    """

    def __init__(self, in_channels: int, out_channels: int, embed_dim: int, norm_groups: int) -> None:
        super().__init__()
        self.norm_in = group_norm(in_channels, norm_groups)
        self.conv_in = sphere_conv3x3(in_channels, out_channels)
        self.film = nn.Linear(embed_dim, 2 * out_channels)
        self.norm_out = group_norm(out_channels, norm_groups)
        self.conv_out = sphere_conv3x3(out_channels, out_channels)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv_in(F.silu(self.norm_in(x)))
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        # 1 + scale: a zero embedding leaves the normalised features unchanged.
        h = F.silu(self.norm_out(h) * (1 + scale) + shift)
        return (self.conv_out(h) + self.skip(x)) * RESIDUAL_SCALE


class Upsample(nn.Module):
    """Nearest-neighbour x2 in lat and lon, then a sphere conv: (B, C_in, H, W) -> (B, C_out, 2H, 2W)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = sphere_conv3x3(in_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class SelfAttention2d(nn.Module):
    """Multi-head self-attention over all H·W positions, residual: (B, C, H, W) -> (B, C, H, W).

    No positional encoding: positions are told apart by their features (the static lat/lon input
    channels), and attention stays equivariant to any permutation of grid cells.
    """

    def __init__(self, channels: int, num_heads: int, norm_groups: int) -> None:
        super().__init__()
        self.norm = group_norm(channels, norm_groups)
        self.attention = nn.MultiheadAttention(channels, num_heads, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        batch, channels, num_lat, num_lon = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)
        attended, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        attended = attended.transpose(1, 2).reshape(batch, channels, num_lat, num_lon)
        return (x + attended) * RESIDUAL_SCALE
