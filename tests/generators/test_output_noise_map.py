"""`DenoiserConfig.output_noise_map`: the network gives a map of the output noise's amplitude with its
output. Before training the map is 1 (the constant amplitude), the noise's part of a member scales
with the map point by point (and is bounded), a short run trains it and the model file keeps it,
and model files from before the field load without it."""

import dataclasses

import numpy as np
import torch
from test_noise_draws import CPU, LAT, LON, WITH_OUTPUT_NOISE, same_members, summary, tiny_run, written_before

from seeds_dag.model_file import model_from_checkpoint
from seeds_dag.networks.generator import OUTPUT_NOISE_LOG_RANGE, NoiseGenerator
from seeds_dag.output_cross_spectrum import correlate_meridionally, filter_cross_spectrally

MAPPED = dataclasses.replace(WITH_OUTPUT_NOISE, output_noise_map=True)
UNMAPPED = dataclasses.replace(WITH_OUTPUT_NOISE, output_noise_map=False)


def noises(model, batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    config = model.config
    z = torch.randn(batch, config.noise_dim, generator=g)
    eps = torch.randn(batch, config.noise_channels, 4, 8, generator=g)
    xi = torch.randn(batch, config.trajectory_channels, len(LAT), len(LON), generator=g)
    return z, eps, xi


def noise_part(model, batch=3):
    """What ξ adds to the members: the output filter is linear, so the members with ξ less those
    with ξ = 0."""
    z, eps, xi = noises(model, batch)
    cond = summary(batch)
    with torch.no_grad():
        return model(z, cond, eps, xi) - model(z, cond, eps, torch.zeros_like(xi)), xi


def test_before_training_the_map_is_one_and_then_scales_the_noise_point_by_point():
    torch.manual_seed(0)
    model = NoiseGenerator(MAPPED, LAT, LON).eval()
    assert model.unet.head[-1][-1].out_channels == 2 * MAPPED.trajectory_channels
    part, xi = noise_part(model)
    chained = correlate_meridionally(xi, model.output_noise_chain)
    constant = model.output_noise_scale[:, None, None] * chained
    torch.testing.assert_close(part, _filtered(model, constant), rtol=1e-5, atol=1e-5)
    # A log-amplitude of +1 in the first channel's northern half and −1 in the south (the others
    # 0): the noise's part scaled there by the bounded factor, point by point.
    channels = MAPPED.trajectory_channels
    log_amplitude = torch.zeros(channels, len(LAT), len(LON))
    log_amplitude[0, len(LAT) // 2:] = 1.0
    log_amplitude[0, :len(LAT) // 2] = -1.0
    model.unet.head[-1][-1] = _MapOffset(model.unet.head[-1][-1], channels, log_amplitude)
    part, _ = noise_part(model)
    bounded = torch.exp(OUTPUT_NOISE_LOG_RANGE * torch.tanh(log_amplitude / OUTPUT_NOISE_LOG_RANGE))
    torch.testing.assert_close(part, _filtered(model, bounded * constant), rtol=1e-4, atol=1e-5)
    assert 2.0 < float(bounded.max()) < np.e  # 1 mapped to 2·tanh(1/2): e^0.92


class _MapOffset(torch.nn.Module):
    """The generator's last convolution, its log-amplitude outputs replaced by a fixed map."""

    def __init__(self, conv, channels, log_amplitude):
        super().__init__()
        self.conv, self.channels, self.log_amplitude = conv, channels, log_amplitude

    def forward(self, x):
        out = self.conv(x)
        return torch.cat([out[:, :self.channels], self.log_amplitude.expand(len(x), -1, -1, -1)], dim=1)


def _filtered(model, noise):
    """`noise` through the model's output filter."""
    return filter_cross_spectrally(noise, model.output_cross_spectral_root)


def test_without_output_noise_there_is_no_map():
    plain = NoiseGenerator(dataclasses.replace(MAPPED, output_noise=False), LAT, LON)
    assert plain.unet.head[-1][-1].out_channels == MAPPED.trajectory_channels


def test_a_short_run_trains_the_map_and_the_model_file_keeps_it(tmp_path):
    result, stored = tiny_run(MAPPED, tmp_path)
    head = result.model.unet.head[-1][-1]
    assert head.weight[MAPPED.trajectory_channels:].abs().sum() > 0  # the map's weights left 0
    reloaded = model_from_checkpoint(stored, LAT, LON, CPU)
    assert reloaded.config.output_noise_map
    same_members(reloaded, result.model)


def test_a_model_file_from_before_the_map_loads_without_it(tmp_path):
    result, stored = tiny_run(UNMAPPED, tmp_path)
    for field in ("output_noise_map", "output_noise_initial_scale"):
        stored = written_before(stored, field)
    reloaded = model_from_checkpoint(stored, LAT, LON, CPU)
    assert not reloaded.config.output_noise_map
    same_members(reloaded, result.model)
