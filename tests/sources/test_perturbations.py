"""Random-field perturbations (Magnusson et al. 2009): distinct pairs, centred, linear in the
amplitude, reproducible for a seed."""

import pytest
import torch

from seeds_dag.sources.embedded.perturbations import (
    analysis_error,
    member_perturbations,
    random_field_differences,
    split_pool,
)


def labelled_pool(n_pool, shape=(3, 4)):
    """Pool whose state i is the constant i: a difference x_a − x_b reveals the pair (a − b)."""
    return torch.arange(n_pool, dtype=torch.float32)[:, None, None].expand(n_pool, *shape).clone()


def random_pool(n_pool, seed=0):
    return torch.randn(n_pool, 5, 7, 4, generator=torch.Generator().manual_seed(seed))


def generator(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("n_pool", [2, 3, 5])
def test_a_state_is_never_paired_with_itself(n_pool):
    differences = random_field_differences(labelled_pool(n_pool), 4000, generator(0), 1)
    assert differences.shape == (4000, 3, 4)
    assert torch.all(differences != 0)


def test_every_ordered_pair_of_distinct_states_can_be_drawn():
    # With states 0..3, a − b identifies the pair up to sign of the offset: check all values occur.
    pool = torch.tensor([1.0, 10.0, 100.0, 1000.0])[:, None]
    differences = set(random_field_differences(pool, 4000, generator(1), 1)[:, 0].tolist())
    expected = {a - b for a in pool[:, 0].tolist() for b in pool[:, 0].tolist() if a != b}
    assert differences == expected


def test_paired_states_are_at_least_the_separation_apart():
    gaps = random_field_differences(labelled_pool(40), 4000, generator(4), 7)[:, 0, 0].abs()
    assert gaps.min() == 7 and gaps.max() == 33  # every allowed separation occurs, none shorter
    # A pool shorter than twice the separation falls back to half the pool.
    short = random_field_differences(labelled_pool(5), 2000, generator(5), 7)[:, 0, 0].abs()
    assert set(short.tolist()) == {2.0, 3.0}


def test_member_perturbations_are_centred():
    perturbations = member_perturbations(random_pool(6), 9, 0.15, generator(2), 1)
    assert perturbations.shape == (9, 5, 7, 4)
    torch.testing.assert_close(perturbations.mean(dim=0), torch.zeros(5, 7, 4), atol=1e-6, rtol=0)
    assert perturbations.std() > 0.05  # centred, not collapsed


def test_member_perturbations_scale_linearly_with_the_amplitude():
    pool = random_pool(6)
    small = member_perturbations(pool, 5, 0.1, generator(3), 1)
    large = member_perturbations(pool, 5, 0.3, generator(3), 1)
    torch.testing.assert_close(large, 3.0 * small)


def test_analysis_error_is_deterministic_for_a_seed():
    pool = random_pool(10)
    first = analysis_error(pool, 0.2, generator(7), 1)
    assert first.shape == pool.shape[1:]
    assert torch.equal(first, analysis_error(pool, 0.2, generator(7), 1))
    # Other seeds draw other pairs (90 ordered pairs: ten seeds give several distinct errors).
    distinct = {tuple(analysis_error(pool, 0.2, generator(seed), 1).flatten()[:3].tolist())
                for seed in range(10)}
    assert len(distinct) >= 5
    # One scaled difference of two distinct pool states.
    candidates = [0.2 * (pool[a] - pool[b]) for a in range(10) for b in range(10) if a != b]
    assert any(torch.allclose(first, c) for c in candidates)


@pytest.mark.parametrize("n_pool", [0, 1])
def test_a_pool_of_fewer_than_two_states_is_refused(n_pool):
    pool = random_pool(n_pool)
    with pytest.raises(ValueError, match=f"holds {n_pool} states"):
        random_field_differences(pool, 3, generator(0), 1)
    with pytest.raises(ValueError, match="at least 2"):
        member_perturbations(pool, 3, 0.15, generator(0), 1)


def test_split_pool_keeps_analysis_and_member_states_apart():
    pool = labelled_pool(80)
    analysis, members = split_pool(pool, 20, 7)
    assert analysis[:, 0, 0].tolist() == list(range(20))
    assert members[:, 0, 0].tolist() == list(range(27, 80))  # 7 days between the two parts
    # Short pools (smoke runs): halves, and below 4 states one shared pool.
    assert [len(part) for part in split_pool(labelled_pool(6), 20, 7)] == [3, 3]
    analysis, members = split_pool(labelled_pool(3), 20, 7)
    assert torch.equal(analysis, members) and len(analysis) == 3
