"""A held-out validation score for a training run, and the best weights by it.

Why: on the main job's 24 reforecast inits the one-pass generator overfits. Trained 3000 steps
instead of 800, its fair CRPS on its own training inits falls by 5-10 % while on held-out inits it
rises by 1-9 %, and the perfect-model fair CRPS over ideal-2's goes from 1.03-1.08 to 1.06-1.20
(docs/benchmarks.md, "Seventh round"): a small reforecast lets the network learn its inits, and a
longer schedule is then worse, not better (without weight decay: `TrainingConfig.weight_decay`
stops the rise, the eighth round). Holding the last `validation_inits` inits of the
window out of training, scoring the EMA weights on them every `validate_every` steps with the
run's own objective, and publishing the weights of the best score makes a schedule longer than
the data supports cost time, not skill, and shows in the loss curves where the data runs out.

The validation examples are fixed (each member of each held-out init once the target, the next K
members the seeds, cyclically) and so is their noise (one stream keyed by the run's seed), so
the score of two steps differs only by the weights. A run that trains on the truth as the target
with probability p (the post-processor's generator) is scored by the same expectation: (1 − p)
times the score with the members as targets plus p times the score with the truth as the target
of the same seeds.
"""

import numpy as np
import torch
from torch import Tensor

from seeds_dag.generators.kinds import Objective
from seeds_dag.generators.objectives import training_loss
from seeds_dag.random_streams import seeded_generator
from seeds_dag.seed_anomalies import example_inputs

VALIDATION_STREAM = 2
"""The key after (seed, step) that the validation noise is drawn with; the training batches use
0 and the training noise 1, so validating draws nothing from the training streams."""


def split_validation(data: np.ndarray, validation_inits: int, truth: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(training data, validation data, training truth, validation truth): the last
    `validation_inits` inits of `data` and `truth` (init first, in time order) held out; 0 holds
    out none (validation data None). A missing truth stays None."""
    if validation_inits == 0:
        return data, None, truth, None
    if not 0 < validation_inits < data.shape[0]:
        raise ValueError(f"validation_inits={validation_inits} must leave at least one of the "
                         f"{data.shape[0]} training inits to train on")
    kept = data.shape[0] - validation_inits
    if truth is None:
        return data[:kept], data[kept:], None, None
    return data[:kept], data[kept:], truth[:kept], truth[kept:]


def validation_examples(data: np.ndarray, seed_count: int, truth: np.ndarray | None = None
                        ) -> tuple[Tensor, Tensor, Tensor | None]:
    """Fixed examples of the held-out inits: (target (N, L, V, H, W), seeds (N, K, L, V, H, W),
    truth (N, L, V, H, W) or None), every member of every init the target once, the K members after
    it (cyclically) its seeds, and the truth of the example's init when `truth` is given.

    data: (n_init, n_lead, n_member, V, H, W) normalised; truth: (n_init, n_lead, V, H, W)."""
    n_member = data.shape[2]
    if not 1 <= seed_count < n_member:
        raise ValueError(f"seed_count {seed_count}: need 1 ≤ K < {n_member} members")
    order = np.array([[(m + j) % n_member for j in range(1 + seed_count)] for m in range(n_member)])
    fields = torch.from_numpy(np.ascontiguousarray(data))[:, :, order]  # (I, L, M, 1 + K, V, H, W)
    fields = fields.permute(0, 2, 3, 1, 4, 5, 6).flatten(0, 1)  # (I·M, 1 + K, L, V, H, W)
    if truth is None:
        return fields[:, 0], fields[:, 1:], None
    truth_targets = torch.from_numpy(np.ascontiguousarray(truth)).repeat_interleave(n_member, 0)
    return fields[:, 0], fields[:, 1:], truth_targets


@torch.no_grad()
def validation_loss(model: torch.nn.Module, objective: Objective,
                    examples: tuple[Tensor, Tensor, Tensor | None], spread: Tensor, weights: Tensor,
                    seed: int, step: int, batch_size: int, device: torch.device,
                    truth_probability: float = 0.0) -> float:
    """The run's objective on the fixed validation examples (`validation_examples`), a mean over
    them in batches of `batch_size`: with the members as targets, and with the truth as targets
    weighted by `truth_probability` (which needs the examples' truth). `model` (the EMA weights) is
    left in eval mode. spread: (1, L·V, H)."""
    member_targets, seeds, truth = examples
    if truth_probability > 0 and truth is None:
        raise ValueError(f"truth_probability {truth_probability} needs the held-out inits' truth")
    model.eval()

    def mean_loss(target: Tensor) -> float:
        # The same noise for either set of targets, so their scores differ by the targets alone.
        generator = seeded_generator(seed, 0, VALIDATION_STREAM, device=device)
        total = 0.0
        for start in range(0, target.shape[0], batch_size):
            anomaly, cond = example_inputs(target[start:start + batch_size], seeds[start:start + batch_size],
                                           spread)
            loss = training_loss(model, objective, anomaly.to(device), cond.to(device), weights, generator,
                                 step)
            total += float(loss) * anomaly.shape[0]
        return total / target.shape[0]

    members = mean_loss(member_targets) if truth_probability < 1 else 0.0
    truths = mean_loss(truth) if truth_probability > 0 else 0.0
    return (1 - truth_probability) * members + truth_probability * truths
