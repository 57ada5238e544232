"""The post-processing frame (SEEDS-GPP around the emulator): the regression and the scale it fits
are the known ones of synthetic data, it calibrates a biased, under-dispersive ensemble on inits it
was not fitted on, and it refuses what it was not fitted for."""

import numpy as np
import pytest

from seeds_dag.post_processing import FrameError, PostProcessingFrame, fit_post_processing_frame
from seeds_dag.seed_mean_shrinkage import shrunk_centre

S, I, L, N, V, H, W = 2, 40, 2, 8, 2, 3, 16
OFFSET, SLOPE, TRUTH_NOISE, MEMBER_NOISE = 0.5, 0.8, 0.3, 1.2


def synthetic(rng: np.random.Generator, inits: int = I):
    """Seed means m, truth y = OFFSET + SLOPE·m + N(0, TRUTH_NOISE²) and members m + N(0, MEMBER_NOISE²):
    an ensemble biased by −OFFSET at m = 0 and far wider than its error (spread/skill about 1.7)."""
    seed_means = rng.standard_normal((S, inits, L, V, H, W))
    truth = OFFSET + SLOPE * seed_means[0] + TRUTH_NOISE * rng.standard_normal((inits, L, V, H, W))
    # Every seed set sees the same truth: build the others' means around it as the first's are.
    seed_means[1:] = (truth - OFFSET - TRUTH_NOISE * rng.standard_normal((S - 1, inits, L, V, H, W))) / SLOPE
    members = seed_means[:, :, :, None] + MEMBER_NOISE * rng.standard_normal((S, inits, L, N, V, H, W))
    return seed_means, truth, members


def test_the_fitted_frame_is_the_regression_and_scale_of_the_data():
    seed_means, truth, members = synthetic(np.random.default_rng(0))
    frame = fit_post_processing_frame(seed_means, truth, members, emulator_version="e", seed_count=2)
    assert frame.offset.shape == (L, V, H)
    # The second seed set's means are noisier (errors-in-variables), so pooled β sits a little below 0.8.
    np.testing.assert_allclose(frame.offset, OFFSET, atol=0.06)
    np.testing.assert_allclose(frame.slope, SLOPE, atol=0.08)
    expected_scale = np.sqrt(((truth - frame.offset[None, :, :, :, None]
                               - frame.slope[None, :, :, :, None] * seed_means) ** 2).mean(axis=(0, 1, 5))) / MEMBER_NOISE
    np.testing.assert_allclose(frame.scale, expected_scale, rtol=0.05)


def test_the_frame_calibrates_a_biased_wide_ensemble_on_other_inits():
    rng = np.random.default_rng(1)
    frame = fit_post_processing_frame(*synthetic(rng), emulator_version="e", seed_count=2)
    seed_means, truth, members = synthetic(rng)
    # Seeds whose mean is the seed mean: two members symmetric about it.
    offsets = rng.standard_normal((I, L, 1, V, H, W))
    seeds = seed_means[0][:, :, None] + np.concatenate([offsets, -offsets], axis=2)
    raw = members[0]
    processed = np.stack([frame.apply(raw[i], seeds[i]) for i in range(I)])
    for ensemble, bias_ok, ratio_ok in ((raw, False, False), (processed, True, True)):
        error = ensemble.mean(axis=2) - truth
        spread = np.sqrt(ensemble.var(axis=2, ddof=1).mean())
        ratio = spread * np.sqrt((N + 1) / N) / np.sqrt((error ** 2).mean())
        assert (abs(error.mean()) < 0.05) == bias_ok
        assert (0.9 < ratio < 1.1) == ratio_ok


def test_a_frame_per_point_keeps_longitude():
    seed_means, truth, members = synthetic(np.random.default_rng(2))
    frame = fit_post_processing_frame(seed_means, truth, members, emulator_version="e", seed_count=2,
                                      pool_longitudes=False)
    assert frame.offset.shape == frame.scale.shape == (L, V, H, W)
    assert frame.apply(members[0, 0], np.stack([seed_means[0, 0]] * 2, axis=1)).shape == members[0, 0].shape


def test_the_frame_round_trips_and_damage_is_named():
    frame = fit_post_processing_frame(*synthetic(np.random.default_rng(3)), emulator_version="abc", seed_count=2)
    back = PostProcessingFrame.from_bytes(frame.to_bytes(), "store/post_processor/frame.npz")
    assert (back.seed_count, back.emulator_version) == (2, "abc")
    for name in ("offset", "slope", "scale"):
        np.testing.assert_array_equal(getattr(back, name), getattr(frame, name))
    for damaged in (b"", b"not a frame", frame.to_bytes()[:100]):
        with pytest.raises(FrameError, match="store/post_processor/frame.npz: not a post-processing frame"):
            PostProcessingFrame.from_bytes(damaged, "store/post_processor/frame.npz")


def test_around_an_emulator_that_shrinks_the_seed_mean_the_frame_centres_on_the_shrunk_mean():
    """Members drawn about c + S·(m − c) (S per lead, variable and zonal wavenumber, c a climate with
    stationary waves) and a truth about OFFSET + SLOPE·centre: the frame finds OFFSET and SLOPE on
    that centre, its scale is the truth's error over the members' spread about it, and the centre
    survives the file."""
    rng = np.random.default_rng(5)
    factor = rng.uniform(0.2, 1.0, (L, V, W // 2 + 1))
    climate = 0.5 * rng.standard_normal((L, V, H, W))
    seed_means = rng.standard_normal((S, I, L, V, H, W))
    centre = shrunk_centre(seed_means, factor, climate)
    truth = OFFSET + SLOPE * centre[0] + TRUTH_NOISE * rng.standard_normal((I, L, V, H, W))
    seed_means[1:] = seed_means[:1]  # one seed set, twice: no errors in variables
    centre[1:] = centre[:1]
    members = centre[:, :, :, None] + MEMBER_NOISE * rng.standard_normal((S, I, L, N, V, H, W))
    frame = fit_post_processing_frame(seed_means, truth, members, emulator_version="e", seed_count=2,
                                      centre_factor=factor, centre_climate=climate)
    np.testing.assert_allclose(frame.offset, OFFSET, atol=0.05)
    np.testing.assert_allclose(frame.slope, SLOPE, atol=0.05)
    np.testing.assert_allclose(frame.scale, TRUTH_NOISE / MEMBER_NOISE, rtol=0.06)
    # Fitted on the raw mean instead, the slope takes the shrinkage in: far from SLOPE.
    raw = fit_post_processing_frame(seed_means, truth, members, emulator_version="e", seed_count=2)
    assert np.abs(raw.slope - SLOPE).max() > 0.1
    seeds = np.stack([seed_means[0, 0]] * 2, axis=1)  # (L, K, V, H, W) whose mean is seed_means[0, 0]
    offset, slope, scale = (getattr(frame, name)[:, None, :, :, None] for name in ("offset", "slope", "scale"))
    expected = offset + slope * centre[0, 0][:, None] + scale * (members[0, 0] - centre[0, 0][:, None])
    np.testing.assert_allclose(frame.apply(members[0, 0], seeds), expected, rtol=1e-4, atol=1e-4)
    back = PostProcessingFrame.from_bytes(frame.to_bytes(), "frame.npz")
    np.testing.assert_array_equal(back.centre_factor, frame.centre_factor)
    np.testing.assert_array_equal(back.centre_climate, frame.centre_climate)
    assert PostProcessingFrame.from_bytes(raw.to_bytes(), "frame.npz").centre_factor is None
    with pytest.raises(FrameError, match="both its factor and its climate"):
        fit_post_processing_frame(seed_means, truth, members, emulator_version="e", seed_count=2,
                                  centre_factor=factor)
    with pytest.raises(FrameError, match="do not fit"):
        PostProcessingFrame(frame.offset, frame.slope, frame.scale, 2, "e", factor[:, :, :-1], climate)


def test_the_frame_refuses_other_seed_counts_and_grids():
    seed_means, truth, members = synthetic(np.random.default_rng(4))
    frame = fit_post_processing_frame(seed_means, truth, members, emulator_version="e", seed_count=2)
    three_seeds = np.zeros((L, 3, V, H, W))
    with pytest.raises(FrameError, match="fitted for K = 2 seeds, got 3"):
        frame.apply(members[0, 0], three_seeds)
    with pytest.raises(FrameError, match=r"the frame is for \(lead, V, lat\[, lon\]\)"):
        frame.apply(np.zeros((L, N, V, H + 1, W)), np.zeros((L, 2, V, H + 1, W)))
    with pytest.raises(FrameError, match="must agree"):
        fit_post_processing_frame(seed_means, truth[:-1], members, emulator_version="e", seed_count=2)
    with pytest.raises(FrameError, match="members do not differ from the seed mean"):
        fit_post_processing_frame(seed_means, truth, np.broadcast_to(seed_means[:, :, :, None], members.shape),
                                  emulator_version="e", seed_count=2)


def test_the_sampling_step_refuses_a_frame_of_another_emulator_or_k(tmp_path):
    """A frame fitted to an emulator that has since been retrained (or for another K) would scale
    the new members by the old ones' spread: refused by name, with what to rematerialise."""
    from assets.model_files import FRAME, POST_PROCESSOR, load_post_processor
    from seeds_dag.store import ArtifactStore

    store = ArtifactStore(str(tmp_path))
    frame = fit_post_processing_frame(*synthetic(np.random.default_rng(5)), emulator_version="old", seed_count=2)
    store.write_bytes(POST_PROCESSOR, FRAME, frame.to_bytes())
    emulator, grid = object(), dict(lat=np.zeros(H), lon=np.zeros(W), lead_days=np.arange(L), device="cpu")
    with pytest.raises(FrameError, match="emulator version old, trained_emulator is now new: rematerialise post_processor"):
        load_post_processor(store, emulator, "new", seed_count=2, **grid)
    with pytest.raises(FrameError, match=r"fitted for K = 2 seeds, the emulation asks for 3"):
        load_post_processor(store, emulator, "old", seed_count=3, **grid)
    model, version, loaded = load_post_processor(store, emulator, "old", seed_count=2, **grid)
    assert model is emulator and loaded.emulator_version == "old" and len(version) == 16
