"""The sphere-aware U-Net trunk that every generator shares: fields in, fields out, every residual
block modulated (FiLM) by one embedding vector per sample.

What the embedding carries is the caller's: the noise level for the diffusion and consistency
models (`networks.denoiser`), a random noise vector for the one-pass CRPS generator
(`networks.generator`). Static position channels (sin/cos of latitude and longitude) are appended
to the input here, so no caller forgets them.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seeds_dag.networks.blocks import ResBlock, SelfAttention2d, Upsample, group_norm, sphere_conv3x3


@dataclass(frozen=True)
class DenoiserConfig:
    """Architecture of the U-Net of every generator; the defaults train on a CPU in minutes.

    A sample is one member's whole trajectory: its `num_leads` lead times × `num_variables` fields
    stacked as channels (lead-major), so the network sees, and generates, all leads jointly.

    channels: width per U-Net level, finest first; each further level halves lat and lon.
        (16, 32, 64) costs 0.21 GFLOP per pass on the 32×64 grid against 0.69 for
        (32, 64, 96), about 2.4× less CPU time; one pass now generates all leads of a member.
    blocks_per_level: residual blocks per level in the encoder and in the decoder.
    embed_dim: width of the per-sample conditioning vector (noise level or noise vector).
    attention_at_bottom: self-attention over all positions at the coarsest level.
    num_variables: V, the number of normalised fields per member and lead.
    num_leads: L, the lead times of a trajectory (a model is tied to the leads it was trained on).
    use_lon_channels: add sin/cos(lon) inputs; off makes the network equivariant to lon rolls.
    attention_heads: heads of the bottom self-attention (must divide channels[-1]).
    norm_groups: GroupNorm uses gcd(channels, norm_groups) groups.
    embedding_periods: (min, max) periods of the Fourier features of the noise level; covers
        c_noise = ln(σ)/4 in about [-1.6, 1.1] for σ in [0.002, 80].
    noise_dim: size of the noise vector z of the one-pass generator (FGN's is 32); 0 builds a
        generator whose only noise is ε, its blocks' FiLM embedding one learned vector. Measured
        as noise_levels, 0 and 32 gave the same variance by band and a perfect-model fair CRPS
        over ideal-2's of 1.051 against 1.050–1.056 (two seeds with z), so z stays.
    noise_channels: fields of spatial N(0, 1) noise per member that the one-pass generator adds at
        the coarsest U-Net level (FourCastNet 3's spatially correlated noise); the diffusion models
        ignore it; 0 builds the network without it, as checkpoints that predate the field were
        (`model_file.model_from_checkpoint` reads a missing field as 0). 4 by default: on the main
        job's 3 inits, 800 steps, the crps generator's perfect-model fair CRPS over ideal-2's fell
        from 1.051–1.080 to 1.026–1.045 across the leads, its perfect-model spread/skill rose from
        0.74–0.87 to 0.86–0.98, and the members' variance about the seeds at zonal wavenumbers 4–7
        from 0.02 to 0.4–0.6 of the physics members' (docs/benchmarks.md; one training seed,
        and `CRPSConfig` shows how far the seed alone moves the variance by scale).
    noise_levels: how many U-Net levels, the coarsest first, receive `noise_channels` fields of
        noise each, on their own grids (1: the coarsest only, as before the field existed;
        `len(channels)`: down to one value per grid point, as AIFS-CRPS's noise). Noise on the
        coarsest 8 × 16 grid of the default U-Net resolves zonal wavenumbers up to 8 only, so
        finer levels looked like the way to small-scale variance; measured, they are not (main
        job's 3 inits, 800 steps, the variable-pair and spectral terms on; docs/benchmarks.md): with
        all 3 levels noised the members' variance about the seeds, over the physics members', was
        0.5–9 % at wavenumbers 4–15 and 1.75–2.7× at 0–3 (4 or 16 channels, with z), 10–46 % and
        1.4–2.2× without z, where noise on the coarsest level alone gave 0.6–1.2× at 0–3,
        0.85–1.4× at 4–7 and 0.3–0.9× at 8–15 (four runs). 1 by default.
    output_correlation: the one-pass generator's output channels are mixed, per latitude, by the
        square root of the physics members' correlation between leads and variables, measured on
        the reforecast it trains on (`seeds_dag.output_correlation` says why); the diffusion
        models ignore it. Measured (main job's 3 inits, 800 steps, two training seeds,
        docs/benchmarks.md): the mean |cross-variable correlation − physics'| fell from 0.45–0.66
        to 0.19–0.21 and |lead-to-lead coherence − physics'| from 0.18–0.19 to 0.11–0.14 at the
        same perfect-model CRPS (1.040–1.043 against 1.039–1.042), but it left 4–14 × the physics
        members' variance at zonal wavenumbers ≥ 16, so no realism target is met and the written
        rule keeps it off. Off by default, and for model
        files that predate the field.
    output_spectrum: the one-pass generator's output is filtered along each latitude circle, per
        channel, to the physics members' zonal spectrum of deviations, measured on the reforecast
        it trains on (`seeds_dag.output_spectrum` says why), before `output_correlation`'s mixing;
        the diffusion models ignore it. Off by default, and for model files that predate the field.
    output_cross_spectrum: the one-pass generator's output is filtered per latitude and zonal
        wavenumber by the square root of the physics members' cross-spectral matrix between all
        leads and variables (`seeds_dag.output_cross_spectrum` says why): the spectra of
        `output_spectrum`, the correlations at a point of `output_correlation`, and the relations
        at a distance neither gives; it replaces both (a generator is refused with it and either).
        On by default with `output_noise`; off for model files that predate the field.
    output_noise: the one-pass generator's output gets white N(0, 1) noise ξ for every channel and
        grid point, times a learned amplitude per channel, before the output filter
        (`output_cross_spectrum` or `output_spectrum`, one of which it needs): the network's own
        noise (z and a few coarse fields of ε) drives its 30 output channels through a handful of
        directions, so its output cannot be white over channels and the filter's structure is
        not reached; filtered ξ has that structure exactly. ξ is drawn white and then made a chain
        from latitude to latitude with the physics members' complex correlation between adjacent
        latitudes, per variable, latitude pair and zonal wavenumber
        (`output_cross_spectrum.meridional_coherence`): white in latitude, it striped the members
        along the latitude circles; one real ρ for every variable and latitude left u850 too
        smooth in latitude and the waves upright where physics' lean poleward and east. On by
        default; off for model files that predate
        the field. Measured with `output_cross_spectrum` (main job's 3 inits, 800
        steps, two training seeds; docs/benchmarks.md), against the default before them: the
        members' variance about the seeds over the physics members' 0.9–1.5 at wavenumbers 0–3,
        0.8–1.3 at 4–7, 0.4–1.4 at 8–15 and 0.3–1.0 at 16+ (before: 1.6–2.4, 0.4–0.6, 0.06–0.09
        and 1–2 with one seed, 0.4–0.7, 1.3–1.7, 0.6–1.5 and 4–10 with the other), mean
        |cross-variable correlation − physics'| 0.11–0.12 (0.45–0.66), |lead-to-lead coherence −
        physics'| 0.10 (0.18–0.19), perfect-model fair CRPS over ideal-2's 1.039 and 1.034
        (1.039 and 1.042); no realism target is met yet by it either.
    output_noise_map: ξ's amplitude is also a map the network gives with its output: per channel
        and grid point a factor exp(a), a within ±OUTPUT_NOISE_LOG_RANGE, 1 before training. With a
        constant amplitude ξ is the same everywhere whatever the seeds say, so the share of the
        spread it can carry is bounded by what a flow-independent part of the members may be;
        with the map the network can put ξ where the seeds say the spread is. Measured (main job's 3
        inits, 800 steps, two training seeds, with ξ's chain in latitude; docs/benchmarks.md, sixth
        round): perfect-model fair CRPS over ideal-2's 1.034 and 1.034 against 1.040 and 1.036
        without it, mean |cross-variable correlation − physics'| 0.05–0.06 against 0.11, but 2–4 ×
        the physics members' zonal power at wavenumbers 12–15 (1.5–2 × without). On by default
        (nothing to map without `output_noise`); off for model files that predate the field.
    output_noise_initial_scale: ξ's amplitude per channel before training
        (`networks.generator.NoiseGenerator`); a starting point only (the amplitude is learned), so
        model files that predate the field load whatever it is.
    seed_mean_shrinkage: the one-pass generator's members lie about the seeds' mean shrunk towards
        the climate per lead, variable and zonal wavenumber by the Wiener factor S measured on the
        reforecast (`seeds_dag.seed_mean_shrinkage` says why), and the output filter's deviations
        are scaled to the variance σ²(1 + S/K) about it; training then takes one K. The diffusion
        models ignore it. Measured (main job's 3 inits, 800 steps, two training seeds;
        docs/benchmarks.md, ninth round): perfect-model fair CRPS over ideal-2's 1.027–1.041 at
        days 1–3 as before, 1.040–1.052 at days 5–10 against 1.046–1.067, 0.998 and 1.001 at day
        15 against 1.024 and 1.021; the members' zonal power over the physics members' at
        wavenumbers 1–15 at most 1.40–1.42 against 2.01–2.03; with the post-processing frame
        centred on the shrunk mean, GPP's fair CRPS over physics-31's 0.99–1.00 at day 7, 0.95 at
        day 15 (1.04–1.05 and 0.99–1.00 before). On by default; off for model files that predate
        the field.
    """

    channels: tuple[int, ...] = (16, 32, 64)
    blocks_per_level: int = 1
    embed_dim: int = 128
    attention_at_bottom: bool = True
    num_variables: int = 5
    num_leads: int = 4
    use_lon_channels: bool = True
    attention_heads: int = 4
    norm_groups: int = 8
    embedding_periods: tuple[float, float] = (0.1, 8.0)
    noise_dim: int = 32
    noise_channels: int = 4
    noise_levels: int = 1
    output_correlation: bool = False
    output_spectrum: bool = False
    output_cross_spectrum: bool = True
    output_noise: bool = True
    output_noise_map: bool = True
    output_noise_initial_scale: float = 0.5
    seed_mean_shrinkage: bool = True

    @property
    def num_static_channels(self) -> int:
        return 4 if self.use_lon_channels else 2

    @property
    def trajectory_channels(self) -> int:
        """Channels of one member's trajectory: L·V."""
        return self.num_leads * self.num_variables


def check_grid(num_lat: int, num_lon: int, num_levels: int) -> None:
    """Raise ValueError unless every level can halve the grid and the coarsest has even lon."""
    factor = 2 ** (num_levels - 1)
    # The pole padding shifts by 180°, so even the coarsest level needs an even longitude count.
    if num_lat % factor or num_lon % (2 * factor):
        raise ValueError(
            f"grid of shape (lat={num_lat}, lon={num_lon}) does not fit a {num_levels}-level U-Net: "
            f"lat must be divisible by {factor} and lon by {2 * factor}"
        )


def coarse_grid(grid: tuple[int, int], num_levels: int) -> tuple[int, int]:
    """(lat, lon) of the coarsest level of a `num_levels`-level U-Net on `grid`: halved num_levels − 1
    times."""
    return level_grid(grid, num_levels - 1)


def level_grid(grid: tuple[int, int], level: int) -> tuple[int, int]:
    """(lat, lon) of U-Net level `level` (0 the finest) on `grid`: halved `level` times."""
    factor = 2 ** level
    return grid[0] // factor, grid[1] // factor


def noise_grids(grid: tuple[int, int], config: DenoiserConfig) -> list[tuple[int, int]]:
    """The grids of the noise fields of `config`'s U-Net on `grid`, coarsest first: one per noised
    level (`noise_levels` of them; none when noise_channels is 0)."""
    if not config.noise_channels:
        return []
    levels = len(config.channels)
    if not 1 <= config.noise_levels <= levels:
        raise ValueError(f"noise_levels must lie in 1..{levels} (the U-Net's levels), got {config.noise_levels}")
    return [level_grid(grid, level) for level in reversed(range(levels - config.noise_levels, levels))]


def static_channels(lat_deg: np.ndarray, lon_deg: np.ndarray, use_lon_channels: bool) -> Tensor:
    """sin/cos of latitude (and of longitude) broadcast to the grid: (2 or 4, H, W) float32."""
    lat = torch.as_tensor(np.deg2rad(lat_deg), dtype=torch.float32)[:, None].expand(len(lat_deg), len(lon_deg))
    lon = torch.as_tensor(np.deg2rad(lon_deg), dtype=torch.float32)[None, :].expand(len(lat_deg), len(lon_deg))
    fields = [lat.sin(), lat.cos()] + ([lon.sin(), lon.cos()] if use_lon_channels else [])
    return torch.stack(fields)


def check_conditioning(cond: Tensor, batch: int, config: DenoiserConfig, grid: tuple[int, int]) -> None:
    """Raise unless cond is the seeds' summary of a trajectory, (batch, 2·L·V, H, W)."""
    expected = (batch, 2 * config.trajectory_channels, *grid)
    if tuple(cond.shape) != expected:
        raise ValueError(f"cond: expected shape {expected} (seed_conditioning of {config.num_leads} leads × "
                         f"{config.num_variables} variables), got {tuple(cond.shape)}")


class UNet(nn.Module):
    """(B, C_in, H, W) fields and (B, embed_dim) embedding -> (B, C_out, H, W), on a fixed lat-lon
    grid given in degrees at construction; static channels are appended to the input.

    Built with noisy = True and config.noise_channels = k > 0, it also takes k fields of noise on
    the coarsest grid, projected (1×1) onto the coarsest features and added to them between the
    bottom self-attention and the bottom block: the same as concatenating them and mixing with a
    linear map that leaves the features as they are. After the attention, so that a cell's noise is
    not spread over the sphere at once; the 3×3 convolutions after it correlate the noise over
    neighbouring cells, and the decoder maps it to every output channel (all leads and variables).
    With config.noise_levels > 1, the next finer levels get k fields each on their own grids, added
    the same way to the decoder's features of that level as they arrive from the coarser one.
    """

    def __init__(self, config: DenoiserConfig, in_channels: int, out_channels: int,
                 lat_deg: np.ndarray, lon_deg: np.ndarray, noisy: bool = False) -> None:
        super().__init__()
        check_grid(len(lat_deg), len(lon_deg), len(config.channels))
        self.config = config
        self.register_buffer("static", static_channels(lat_deg, lon_deg, config.use_lon_channels), persistent=False)
        embed_dim, groups = config.embed_dim, config.norm_groups
        self.stem = sphere_conv3x3(in_channels + config.num_static_channels, config.channels[0])

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

        self.head = nn.Sequential(group_norm(width_in, groups), nn.SiLU(), sphere_conv3x3(width_in, out_channels))
        # Built last, so the other weights are initialised as without them; k = 0 adds no parameter,
        # so the diffusion models and checkpoints that predate the noise are unchanged. The coarsest
        # level's projection keeps its name, so checkpoints with noise there alone still load.
        k = config.noise_channels if noisy else 0
        self.noise_grids = noise_grids(self.grid, config) if k else []
        self.coarse_noise_in = nn.Conv2d(k, bottom, 1) if k else None
        finer = [config.channels[level] for level in reversed(range(len(config.channels) - 1))]
        finer = finer[:max(0, len(self.noise_grids) - 1)]
        self.finer_noise_in = nn.ModuleList(nn.Conv2d(k, width, 1) for width in finer)

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.static.shape[-2:])

    @property
    def coarse_grid(self) -> tuple[int, int]:
        return coarse_grid(self.grid, len(self.config.channels))

    def forward(self, fields: Tensor, emb: Tensor, *noise: Tensor) -> Tensor:
        """noise: the noise fields when built noisy, (B, k, *grid) for each grid of `noise_grids`
        (coarsest first), and none otherwise."""
        k = None if self.coarse_noise_in is None else self.coarse_noise_in.in_channels
        expected = [(fields.shape[0], k, *grid) for grid in self.noise_grids]
        got = [tuple(field.shape) for field in noise]
        if got != expected:
            raise ValueError(f"noise: expected {'shapes ' + str(expected) if expected else 'none'} (noise fields "
                             f"on the U-Net grids, coarsest first, (batch, channels, lat, lon)), got {got or 'none'}")
        static = self.static.expand(fields.shape[0], -1, -1, -1)
        h = self.stem(torch.cat([fields, static], dim=1))
        skips = []
        for level, blocks in enumerate(self.encoder):
            if level > 0:
                h = F.avg_pool2d(h, 2)
            for block in blocks:
                h = block(h, emb)
            skips.append(h)
        h = self.bottom_attention(h)
        if noise:
            h = h + self.coarse_noise_in(noise[0])
        h = self.bottom_block(h, emb)
        for index, (blocks, upsample) in enumerate(zip(self.decoder, self.upsamplers)):
            # Decoder step `index` works on the index-th level from the coarsest, as noise[index] lies.
            if 0 < index < len(noise):
                h = h + self.finer_noise_in[index - 1](noise[index])
            h = torch.cat([h, skips.pop()], dim=1)
            for block in blocks:
                h = block(h, emb)
            h = upsample(h)
        return self.head(h)
