"""Training loop: trajectory batches, loss decrease with every generator, resumable and safe
checkpoints, samples of a trained model, data-parallel training in 2 processes (gloo)."""

import dataclasses
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import seeds_dag.training as training_module

from seeds_dag.checkpoints import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    LocalCheckpointIO,
    StaleCheckpointError,
    checkpoint_from_bytes,
)
from seeds_dag.conventions import regular_latitudes, regular_longitudes
from seeds_dag.diffusion.edm import EDMConfig
from seeds_dag.emulation import SamplerConfig, generate_members
from seeds_dag.generators.kinds import objective_for
from seeds_dag.model_file import model_from_checkpoint
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.random_streams import seeded_generator
from seeds_dag.seed_anomalies import member_spread, seed_conditioning
from seeds_dag.trajectory_channels import flatten_leads
from seeds_dag.training import (
    TrainingConfig,
    draw_batch,
    train_data_parallel,
    train_generator,
    weight_decay_at,
)

LAT, LON = regular_latitudes(8), regular_longitudes(16)
LEAD_DAYS = np.array([1.0, 2.0])
N_INIT, N_MEMBER, N_VAR = 4, 5, 2
# The loop's properties (learning, exact resumption, DDP) on the crps generator's global noise alone;
# its spatial noise trains, checkpoints and resumes in tests/generators/test_noise_draws.py.
# The bare network: the loop is what these tests are about (the output structure, which a short run
# starts close to its optimum with, has tests of its own in tests/networks/test_output_*.py, as the
# seed-mean shrinkage has in tests/networks/test_seed_mean_shrinkage.py).
DENOISER = DenoiserConfig(channels=(8, 16), embed_dim=16, num_variables=N_VAR, num_leads=len(LEAD_DAYS),
                          attention_at_bottom=False, noise_dim=8, noise_channels=0, output_cross_spectrum=False,
                          output_noise=False, seed_mean_shrinkage=False)
EDM = EDMConfig()
# At 17× the default learning rate, with the default's decay a step (weight_decay_at's docstring).
TINY = TrainingConfig(steps=100, batch_size=16, learning_rate=5e-3, warmup_steps=10, checkpoint_every=50,
                      weight_decay=weight_decay_at(5e-3))
CPU = torch.device("cpu")


def reforecast(seed=0):
    """(init, lead, member, V, H, W) normalised: a per-forecast field shared by the members plus
    member perturbations of size 0.3 along one smooth pattern (a random amplitude per member) with
    a little noise, so the seeds tell the network most of the target and the anomaly from their
    mean has a structure to learn."""
    rng = np.random.default_rng(seed)
    forecast = rng.standard_normal((N_INIT, len(LEAD_DAYS), 1, N_VAR, len(LAT), len(LON)))
    lat, lon = np.meshgrid(np.deg2rad(LAT), np.deg2rad(LON), indexing="ij")
    pattern = np.stack([np.cos(lat) * np.sin(2 * lon), np.sin(2 * lat) * np.cos(lon)])
    amplitude = rng.standard_normal((N_INIT, len(LEAD_DAYS), N_MEMBER, 1, 1, 1))
    noise = rng.standard_normal((N_INIT, len(LEAD_DAYS), N_MEMBER, N_VAR, len(LAT), len(LON)))
    members = forecast + 0.3 * (amplitude * pattern + 0.1 * noise)
    return ((members - members.mean()) / members.std()).astype(np.float32)


def training_fingerprint(config, objective=EDM):
    """The training part of the run fingerprint of `config` on the tiny reforecast."""
    data = reforecast()
    fingerprint = training_module.run_fingerprint(DENOISER, objective, config, data.shape[3:], data.shape[2],
                                                  LEAD_DAYS, member_spread(data))
    return json.loads(fingerprint)["training"]


def train(checkpoint, config=TINY, data=None, on_log=None, data_id="", objective=EDM):
    data = reforecast() if data is None else data
    return train_generator(data, LEAD_DAYS, member_spread(data), LAT, LON, DENOISER, objective, config, checkpoint,
                           CPU, on_log, data_id=data_id)


def model_inputs(seeds, spread):
    """(sigma, cond) for two noisy trajectories: what D(x; σ, cond) takes. seeds (L, K, V, H, W),
    spread (L, V, H)."""
    seeds_t = flatten_leads(torch.as_tensor(seeds).transpose(0, 1))[None].expand(2, -1, -1, -1, -1)
    spread_t = torch.as_tensor(spread).flatten(0, 1)[None].expand(2, -1, -1)
    return torch.tensor([0.5, 2.0]), seed_conditioning(seeds_t, spread_t)


def trajectories(batch=2):
    """Noisy trajectories (batch, L·V, H, W)."""
    return torch.randn(batch, len(LEAD_DAYS) * N_VAR, len(LAT), len(LON))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    checkpoint = LocalCheckpointIO(tmp_path_factory.mktemp("run") / "checkpoint.pt")
    logs = []
    result = train(checkpoint, on_log=lambda step, loss: logs.append((step, loss)))
    return result, checkpoint, logs


def test_batches_draw_whole_trajectories_of_distinct_members_of_one_forecast_with_one_k_per_batch():
    n_init, n_lead = 3, 4
    # Every field is filled with the code 100·init + 10·lead + member of its position.
    index = np.arange(n_init)[:, None, None] * 100 + np.arange(n_lead)[None, :, None] * 10 + np.arange(N_MEMBER)
    fields = np.broadcast_to(index[..., None, None, None], (*index.shape, 1, 2, 4))
    data = torch.as_tensor(fields.copy(), dtype=torch.float32)
    ks = set()
    for step in range(20):
        target, seeds = draw_batch(data, 8, (1, 2, 3, 4), seeded_generator(0, step))
        ks.add(seeds.shape[1])
        assert target.shape == (8, n_lead, 1, 2, 4) and seeds.shape[2:] == (n_lead, 1, 2, 4)
        codes = torch.cat([target[:, None], seeds], dim=1)[..., 0, 0, 0].long()  # (B, 1 + K, lead)
        assert (codes // 100 == codes[:, :1, :1] // 100).all()  # one init per example
        assert (codes // 10 % 10 == torch.arange(n_lead)).all()  # every lead, in order
        assert (codes % 10 == codes[..., :1] % 10).all()  # each a member's whole trajectory
        members = codes[..., 0] % 10
        assert all(len(set(row.tolist())) == row.numel() for row in members)  # distinct members
    assert ks == {1, 2, 3, 4}


def test_post_processing_batches_take_the_truths_trajectory_as_target_at_its_rate():
    n_init, n_lead = 3, 4
    data = torch.zeros(n_init, n_lead, N_MEMBER, 1, 2, 4)
    # The truth of (init, lead) carries the code 1 + 10·init + lead, members carry 0.
    codes = 1 + torch.arange(n_init)[:, None] * 10 + torch.arange(n_lead)[None, :]
    truth = codes[..., None, None, None].expand(n_init, n_lead, 1, 2, 4).float()
    for p in (0.0, 0.3, 1.0):
        targets = []
        for step in range(50):
            target, seeds = draw_batch(data, 64, (2,), seeded_generator(1, step), truth, p)
            assert (seeds == 0).all()  # seeds are always members
            targets.append(target[:, :, 0, 0, 0])
        target = torch.cat(targets)
        from_truth = target[:, 0] > 0
        # 3200 draws: the share is within 4 standard errors of p.
        assert abs(from_truth.float().mean().item() - p) < 4 * np.sqrt(p * (1 - p) / len(target)) + 1e-9
        # A truth target is the truth's trajectory of one init: every lead, in order.
        truth_codes = target[from_truth].long()
        assert (truth_codes % 10 - 1 == torch.arange(n_lead)).all()
        assert (truth_codes // 10 == truth_codes[:, :1] // 10).all()


def test_post_processor_learns_the_truths_offset_from_the_members(tmp_path):
    # Members scatter around a forecast field; the truth is that field shifted by +1 (a model bias).
    rng = np.random.default_rng(3)
    shape = (N_INIT, len(LEAD_DAYS), 1, N_VAR, len(LAT), len(LON))
    forecast = rng.standard_normal(shape).astype(np.float32)
    data = forecast + 0.3 * rng.standard_normal((*shape[:2], N_MEMBER, *shape[3:])).astype(np.float32)
    truth = forecast[:, :, 0] + 1.0
    config = dataclasses.replace(TINY, steps=200, truth_probability=1.0)
    spread = member_spread(data)
    result = train_generator(data, LEAD_DAYS, spread, LAT, LON, DENOISER, EDM, config,
                             LocalCheckpointIO(tmp_path / "gpp.pt"), CPU, truth=truth)
    seeds = data[0, :, :2]
    samples = np.concatenate([s for _, s in generate_members(
        result.model, seeds, spread, LEAD_DAYS, 8, 16, SamplerConfig(num_steps=8), seed=0, device=CPU)], axis=1)
    shift = (samples - seeds.mean(axis=1, keepdims=True)).mean()
    assert 0.6 < shift < 1.4, shift  # an emulator would stay near 0
    with pytest.raises(ValueError, match="needs the truth at the valid times"):
        train_generator(data, LEAD_DAYS, spread, LAT, LON, DENOISER, EDM, config,
                        LocalCheckpointIO(tmp_path / "x.pt"), CPU)


def test_loss_decreases_and_logs_are_called(trained):
    result, _, logs = trained
    losses = np.array([loss for _, loss in result.losses])
    assert [step for step, _ in result.losses] == list(range(1, TINY.steps + 1))
    assert losses[-20:].mean() < 0.8 * losses[:20].mean()
    assert [step for step, _ in logs] == [50, 100]
    assert logs[-1][1] == pytest.approx(np.mean(losses[-50:]))
    assert result.steps_done == TINY.steps and result.resumed_from_step == 0
    # The EMA is an average of weights, not a function of them: no autograd history (a graph
    # through every step's update) hangs on it.
    assert all(p.grad_fn is None and not p.requires_grad for p in result.model.parameters())


def test_samples_of_the_trained_model_are_finite_with_the_data_scale(trained):
    result, checkpoint, _ = trained
    data = reforecast()
    seeds, spread = data[0, :, :2], member_spread(data)
    rebuilt = model_from_checkpoint(checkpoint.load(), LAT, LON, CPU)
    chunks = list(generate_members(rebuilt, seeds, spread, LEAD_DAYS, 6, 12, SamplerConfig(num_steps=8), seed=0,
                                   device=CPU))
    samples = np.concatenate([s for _, s in chunks], axis=1)
    assert samples.shape == (len(LEAD_DAYS), 6, N_VAR, len(LAT), len(LON)) and samples.dtype == np.float32
    assert np.isfinite(samples).all()
    sample_std = samples.transpose(2, 0, 1, 3, 4).reshape(N_VAR, -1).std(axis=1)
    data_std = data.transpose(3, 0, 1, 2, 4, 5).reshape(N_VAR, -1).std(axis=1)
    assert np.all((sample_std > data_std / 3) & (sample_std < 3 * data_std)), (sample_std, data_std)
    with pytest.raises(ValueError, match=r"grid of \(8, 16\), got \(8, 32\)"):
        model_from_checkpoint(checkpoint.load(), LAT, regular_longitudes(32), CPU)
    with pytest.raises(ValueError, match=r"lead days \[1\.0, 2\.0\], asked for \[1\.0, 3\.0\]"):
        model_from_checkpoint(checkpoint.load(), LAT, LON, CPU, [1.0, 3.0])
    # The rebuilt model is the EMA model the run returned.
    x = trajectories()
    args = model_inputs(seeds, spread)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x, *args), result.model(x, *args))


def test_resumed_run_continues_exactly_as_an_uninterrupted_one(tmp_path):
    checkpoint = LocalCheckpointIO(tmp_path / "resumed.pt")
    first = train(checkpoint, dataclasses.replace(TINY, steps=40, checkpoint_every=15))
    resumed = train(checkpoint, dataclasses.replace(TINY, steps=80, checkpoint_every=15))
    assert (first.steps_done, resumed.resumed_from_step, resumed.steps_done) == (40, 40, 80)
    assert resumed.losses[:40] == first.losses and len(resumed.losses) == 80

    straight = train(LocalCheckpointIO(tmp_path / "straight.pt"), dataclasses.replace(TINY, steps=80))
    np.testing.assert_allclose([l for _, l in resumed.losses], [l for _, l in straight.losses], rtol=1e-5)
    for name, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, rtol=1e-5, atol=1e-6)

    logs = []
    again = train(checkpoint, dataclasses.replace(TINY, steps=80), on_log=lambda *a: logs.append(a))
    assert (again.resumed_from_step, again.steps_done, logs) == (80, 80, [])


def test_checkpoint_of_another_configuration_raises_naming_the_keys(tmp_path):
    checkpoint = LocalCheckpointIO(tmp_path / "checkpoint.pt")
    train(checkpoint, dataclasses.replace(TINY, steps=2))
    expected = r"another configuration: training\.learning_rate \(checkpoint 0\.005, now 0\.001\)"
    with pytest.raises(ValueError, match=expected):
        train(checkpoint, dataclasses.replace(TINY, steps=4, learning_rate=1e-3))


def test_checkpoint_of_other_training_data_is_stale(tmp_path):
    checkpoint = LocalCheckpointIO(tmp_path / "checkpoint.pt")
    train(checkpoint, dataclasses.replace(TINY, steps=2), data_id="inits 2000-01-01..2000-01-24")
    with pytest.raises(StaleCheckpointError, match=r"data\.data_id"):
        train(checkpoint, dataclasses.replace(TINY, steps=4), data_id="inits 2000-01-01..2000-03-01")


def test_multiple_seed_counts_train(tmp_path):
    result = train(LocalCheckpointIO(tmp_path / "k.pt"), dataclasses.replace(TINY, steps=6, seed_counts=(1, 2, 3, 4)))
    assert result.steps_done == 6 and np.isfinite([loss for _, loss in result.losses]).all()


def test_seed_count_above_members_minus_one_raises(tmp_path):
    with pytest.raises(ValueError, match=r"seed_counts \(2, 5\).*\[1, 4\]"):
        train(LocalCheckpointIO(tmp_path / "k.pt"), dataclasses.replace(TINY, seed_counts=(2, 5)))


def leave_marker(path):
    """What a malicious checkpoint would run on unpickling, were it allowed to."""
    Path(path).write_text("unpickled")


class Payload:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return leave_marker, (str(self.path),)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("as_torch_save", [False, True])
def test_pickled_objects_in_a_checkpoint_are_refused(tmp_path, as_torch_save):
    marker = tmp_path / "marker"
    checkpoint = LocalCheckpointIO(tmp_path / "checkpoint.pt")
    if as_torch_save:
        torch.save({"format": CHECKPOINT_FORMAT, "model": Payload(marker)}, checkpoint.path)
    else:
        checkpoint.save(pickle.dumps(Payload(marker)))
    with pytest.raises(CheckpointError, match="weights_only=True"):
        train(checkpoint)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        model_from_checkpoint(checkpoint.load(), LAT, LON, CPU)
    assert not marker.exists()


def test_local_checkpoint_io_replaces_atomically(tmp_path):
    io = LocalCheckpointIO(tmp_path / "nested" / "checkpoint.pt")
    assert io.load() is None
    io.save(b"first")
    io.save(b"second")
    assert io.load() == b"second"
    assert [p.name for p in io.path.parent.iterdir()] == ["checkpoint.pt"]


PARALLEL = dataclasses.replace(TINY, steps=60, batch_size=4, checkpoint_every=30, log_every=10)
CRPS = objective_for("crps")  # the default generator, 4 members an example


def train_two(checkpoint, config=PARALLEL, on_log=None):
    return train_data_parallel(
        2, data=reforecast(), lead_days=LEAD_DAYS, spread=member_spread(reforecast()), lat_deg=LAT, lon_deg=LON,
        denoiser_config=DENOISER,
        objective=CRPS, config=config, checkpoint=checkpoint, device=CPU, threads=1, on_log=on_log,
    )


def test_two_gloo_processes_learn_and_checkpoint(tmp_path):
    """DDP over 2 CPU processes: the loss falls, rank 0's logs reach the caller, its checkpoint
    holds the bare model and loads, and a 1-process run refuses to continue it."""
    checkpoint = LocalCheckpointIO(tmp_path / "checkpoint.pt")
    logs = []
    result = train_two(checkpoint, on_log=lambda step, loss: logs.append((step, loss)))
    losses = np.array([loss for _, loss in result.losses])
    assert (result.steps_done, result.resumed_from_step, len(losses)) == (PARALLEL.steps, 0, PARALLEL.steps)
    assert losses[-10:].mean() < 0.8 * losses[:10].mean()
    # Rank 0's logs reach the caller, every log_every steps, as the mean over ranks.
    assert [step for step, _ in logs] == list(range(10, PARALLEL.steps + 1, 10))
    assert logs[-1][1] == pytest.approx(losses[-10:].mean())

    stored = checkpoint.load()
    state = checkpoint_from_bytes(stored, CPU)
    assert state["step"] == PARALLEL.steps
    assert json.loads(state["fingerprint"])["training"]["processes"] == 2
    assert not any(key.startswith("module.") for key in state["model"])  # the bare model, not DDP's
    model = model_from_checkpoint(stored, LAT, LON, CPU)
    z = torch.randn(2, DENOISER.noise_dim)
    _, cond = model_inputs(reforecast()[0, :, :2], member_spread(reforecast()))
    with torch.no_grad():
        torch.testing.assert_close(model(z, cond), result.model(z, cond))
    assert [path.name for path in tmp_path.iterdir()] == ["checkpoint.pt"]  # one writer, no leftovers

    # Two processes take two batches a step: a one-process run would not continue this one.
    with pytest.raises(StaleCheckpointError, match=r"training.processes \(checkpoint 2, now 1\)"):
        train(checkpoint, PARALLEL, objective=CRPS)
    # A 2-process run resuming from a checkpoint continues as an uninterrupted one does:
    # tests/faults/test_killed_training.py (killed inside a checkpoint write, then resumed).


@pytest.mark.parametrize("kind", ["crps", "consistency"])
def test_one_pass_generators_learn_and_resume_exactly(tmp_path, kind):
    """The CRPS generator and the consistency model (its last steps fine-tuned on the CRPS) run
    through the same loop: the loss falls, the checkpoint names the generator, and a resumed run
    continues exactly."""
    objective = objective_for(kind, **({"consistency_steps": 40} if kind == "consistency" else {}))
    config = dataclasses.replace(TINY, steps=60, batch_size=4, checkpoint_every=20)
    checkpoint = LocalCheckpointIO(tmp_path / "run.pt")
    first = train(checkpoint, dataclasses.replace(config, steps=30), objective=objective)
    resumed = train(checkpoint, config, objective=objective)
    straight = train(LocalCheckpointIO(tmp_path / "straight.pt"), config, objective=objective)
    np.testing.assert_allclose([l for _, l in resumed.losses], [l for _, l in straight.losses], rtol=1e-5)
    assert resumed.losses[:30] == first.losses
    state = checkpoint_from_bytes(checkpoint.load(), CPU)
    assert state["generator"] == kind and state["objective"] == json.loads(json.dumps(dataclasses.asdict(objective)))
    losses = np.array([loss for _, loss in straight.losses])
    if kind == "crps":  # the consistency loss changes meaning at the fine-tuning switch
        assert losses[-10:].mean() < 0.8 * losses[:10].mean()
    with pytest.raises(StaleCheckpointError, match=r"generator \(checkpoint " + kind):
        train(checkpoint, config)  # an edm run does not resume a checkpoint of another generator


def test_trained_crps_generator_learns_the_members_spread(tmp_path):
    """Trained on the afCRPS, the one-pass generator's members scatter about the seed mean about
    as much as a new member does (an untrained one barely scatters)."""
    data = reforecast()
    spread = member_spread(data)
    config = dataclasses.replace(TINY, steps=150, batch_size=4)
    result = train(LocalCheckpointIO(tmp_path / "crps.pt"), config, objective=objective_for("crps"))
    seeds = data[0, :, :2]
    samples = np.concatenate([s for _, s in generate_members(
        result.model, seeds, spread, LEAD_DAYS, 16, 16, SamplerConfig(), seed=0, device=CPU)], axis=1)
    generated = (samples - seeds.mean(axis=1, keepdims=True)).std()
    expected = (data[:, :, 2:] - data[:, :, :2].mean(axis=2, keepdims=True)).std()
    assert 0.5 * expected < generated < 1.5 * expected, (generated, expected)


def test_a_non_finite_loss_stops_training_naming_the_step(tmp_path, monkeypatch):
    """A loss that turns NaN (an exploding run) stops the run at that step, naming it, before
    any weight is updated from it."""
    real = training_module.training_loss

    def nan_from_step_3(*args, **kwargs):
        loss = real(*args, **kwargs)
        return loss * float("nan") if args[-1] >= 3 else loss

    monkeypatch.setattr(training_module, "training_loss", nan_from_step_3)
    config = dataclasses.replace(TINY, steps=6, checkpoint_every=2)
    with pytest.raises(FloatingPointError, match="training loss is nan at step 3"):
        train(LocalCheckpointIO(tmp_path / "checkpoint.pt"), config=config)


@pytest.mark.parametrize("probability", [-0.1, 1.5])
def test_truth_probability_outside_zero_one_is_refused(tmp_path, probability):
    data = reforecast()
    config = dataclasses.replace(TINY, steps=2, truth_probability=probability)
    with pytest.raises(ValueError, match=rf"truth_probability must lie in \[0, 1\], got {probability}"):
        train_generator(data, LEAD_DAYS, member_spread(data), LAT, LON, DENOISER, EDM, config,
                        LocalCheckpointIO(tmp_path / "x.pt"), CPU, truth=data[:, :, 0])
