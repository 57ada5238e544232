"""The dry dynamical core: a short run stays finite and moves, conserves mass, and integrates the
members of a batch independently."""

import numpy as np
import pytest
import torch

from seeds_dag.sources.embedded.config import ENSEMBLE_MODEL, TRUTH_MODEL, ModelConfig
from seeds_dag.sources.embedded.dycore import (
    STATE_FIELDS,
    Dycore,
    state_to_tensor,
    tensor_to_state,
)

DAYS = 2


def global_mean_surface_pressure(model, state):
    """Area-weighted (Gaussian quadrature) mean of the nodal surface pressure, per member."""
    grid = model.coords.horizontal
    ps = torch.exp(grid.to_nodal(state.log_surface_pressure))[:, 0].double().numpy()  # (b, lon, lat)
    weights = grid.spec.quadrature_weights
    return (ps * weights).sum(-1).mean(-1) / weights.sum()


@pytest.fixture(scope="module")
def runs(truth_model):
    """Two members with different noise run as one batch, and member 0 run alone."""
    initial = truth_model.initial_state(2, torch.Generator().manual_seed(0))
    alone = tensor_to_state(state_to_tensor(initial)[:1], TRUTH_MODEL.layers)
    return {
        "initial": initial,
        "batch": truth_model.advance(initial, DAYS),
        "alone": truth_model.advance(alone, DAYS),
    }


def test_a_two_day_run_stays_finite_and_develops_a_flow(runs):
    initial, final = runs["initial"], runs["batch"]
    for name in STATE_FIELDS:
        assert torch.isfinite(getattr(final, name)).all(), name
    # The equilibrium-temperature start is out of balance: winds must appear within two days.
    assert torch.all(initial.vorticity == 0)
    assert final.vorticity.abs().max() > 1e-3
    assert not torch.allclose(final.temperature_variation, initial.temperature_variation)


def test_global_mean_surface_pressure_is_conserved(truth_model, runs):
    before = global_mean_surface_pressure(truth_model, runs["initial"])
    after = global_mean_surface_pressure(truth_model, runs["batch"])
    # Measured 1.6e-5 after two days; a dry core has no mass source.
    np.testing.assert_allclose(after, before, rtol=1e-4)


def test_members_of_a_batch_evolve_independently(runs):
    batch, alone = state_to_tensor(runs["batch"]), state_to_tensor(runs["alone"])
    assert not torch.allclose(batch[0], batch[1], rtol=1e-3)  # the two members do differ
    scale = batch[0].abs().amax(dim=(-2, -1), keepdim=True)  # per channel
    torch.testing.assert_close(batch[0] / scale, alone[0] / scale, atol=1e-5, rtol=0)


def test_initial_state_is_at_rest_and_reproducible_for_a_seed(truth_model):
    def initial(seed):
        return state_to_tensor(truth_model.initial_state(3, torch.Generator().manual_seed(seed)))

    first = initial(1)
    assert first.shape == (3, 3 * TRUTH_MODEL.layers + 1, 43, 23)
    assert torch.equal(first, initial(1))
    assert not torch.equal(first, initial(2))
    assert not torch.equal(first[0], first[1])  # every member gets its own noise


def test_state_packing_round_trips(truth_model):
    state = truth_model.initial_state(2, torch.Generator().manual_seed(0))
    packed = state_to_tensor(state)
    unpacked = tensor_to_state(packed, TRUTH_MODEL.layers)
    for name in STATE_FIELDS:
        assert torch.equal(getattr(unpacked, name), getattr(state, name)), name
    assert unpacked.log_surface_pressure.shape == (2, 1, 43, 23)


def test_steps_per_day_follow_the_time_step_and_must_divide_a_day():
    assert Dycore(TRUTH_MODEL).steps_per_day == 48
    assert Dycore(ENSEMBLE_MODEL).steps_per_day == 24
    with pytest.raises(ValueError, match="time_step_minutes=7"):
        Dycore(ModelConfig(time_step_minutes=7.0))


def test_unsupported_truncation_is_refused():
    with pytest.raises(ValueError, match="T22"):
        Dycore(ModelConfig(truncation=22))
