"""The generators of emulated members, each a model of one member's whole trajectory given the
seeds, selectable by name:

| name          | model                                   | trained on                  | NFE per member |
|---------------|-----------------------------------------|-----------------------------|----------------|
| `crps`        | `NoiseGenerator` G(z, cond), z ∈ R^32    | afCRPS of members and lead increments | 1 |
| `consistency` | `ConsistencyModel` f(x, σ, cond)         | iCT, then afCRPS fine-tune  | 1 (or 2)       |
| `edm`         | `EDMPrecond` D(x; σ, cond) (SEEDS)       | EDM's denoising loss        | 2·steps − 1    |

`kinds` builds them and tells them apart, `objectives` holds the training loss of each, `sampling`
draws members with each. All work in seed-anomaly space (`seeds_dag.seed_anomalies`) on
trajectories of L leads × V variables stacked as channels.
"""
