"""Random streams keyed by integers: training draws each step's batch and noise from them, and
sampling each member's noise, so a resumed run or a member drawn in another batch is the same.
Kept apart from both so that sampling does not import the training loop."""

import numpy as np
import torch


def seeded_generator(*keys: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator whose stream depends only on `keys` (non-negative ints), mixed by numpy's
    SeedSequence so that nearby keys, e.g. (seed, step) and (seed, step + 1), give unrelated streams."""
    state = np.random.SeedSequence(keys).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state))
