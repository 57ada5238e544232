"""How the embedded physics ensemble behaves: spread and error growth against lead time.

Prints, per variable and lead, the ensemble spread and the ensemble-mean RMSE against the nature
run, both as fractions of the nature run's climatological standard deviation (cos-lat weighted,
averaged over inits as mean squares), and the mean bias. A weather-like ensemble has spread
growing with lead and error saturating towards √2 of the climatological std... on its way there
within the forecast range. Also prints the physics cost per member-day, and how much of the
truth's deviation from the ensemble mean lies in the span of the members' deviations (against a
member left out, which a perturbation pool shared with the analysis error would make the truth
resemble; see `seeds_dag.sources.embedded.perturbations`).

    python benchmarks/physics_ensemble.py [--inits 12] [--members 10] [--out data/benchmarks]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seeds_dag.sources.embedded.source import (
    EmbeddedSourceConfig,
    run_forecast,
    run_spinup,
    run_truth,
)
from seeds_dag.weighting import area_weights


def fraction_in_span(deviations: np.ndarray, vector: np.ndarray) -> float:
    """Share of |vector|² in the span of `deviations` (n, d): the squared norm of its orthogonal
    projection over its own. A direction independent of the n members' deviations in d ≫ n
    dimensions gives about n/d of effective dimensions; one drawn like a member gives nearly 1."""
    basis, _ = np.linalg.qr(deviations.T)
    return float(np.sum((basis.T @ vector) ** 2) / np.sum(vector**2))


def truth_and_member_in_span(members: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(share of the truth's deviation from the ensemble mean in the span of the members'
    deviations, the same for member 0 against the others). members: (member, d), truth: (d,),
    each variable already in units of its spread."""
    others = members[1:] - members[1:].mean(axis=0)
    return (fraction_in_span(members - members.mean(axis=0), truth - members.mean(axis=0)),
            fraction_in_span(others, members[0] - members[1:].mean(axis=0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inits", type=int, default=12)
    parser.add_argument("--init-spacing-days", type=int, default=5)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--leads", type=str, default="1,3,5,7,10,15")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    leads = tuple(int(x) for x in args.leads.split(","))
    span = (args.inits - 1) * args.init_spacing_days + max(leads)
    config = dataclasses.replace(EmbeddedSourceConfig(), truth_days=span, lead_days=leads)
    t0 = time.perf_counter()
    spinup = run_spinup(config)
    t_spin = time.perf_counter() - t0
    truth = run_truth(config, spinup)
    t_truth = time.perf_counter() - t0 - t_spin
    weights = area_weights(truth["lat"])
    variables = [v for v in truth.data_vars if v != "state"]
    clim_var = {v: float((truth[v].var("time") * weights).mean()) for v in variables}

    spread2, error2, bias, in_span = [], [], [], []
    t_forecast = 0.0
    for i in range(args.inits):
        init = truth.time.values[i * args.init_spacing_days]
        t1 = time.perf_counter()
        fc = run_forecast(config, truth, spinup["pool"], init, args.members, "reforecast")
        t_forecast += time.perf_counter() - t1
        valid = pd.Timestamp(init) + fc.lead_time.to_index()
        obs = truth[variables].sel(time=valid).rename(time="lead_time").assign_coords(
            lead_time=fc.lead_time)
        fc = fc.isel(init_time=0)
        spread2.append({v: (fc[v].var("member", ddof=1) * weights).mean(("lat", "lon")) for v in variables})
        error2.append({v: (((fc[v].mean("member") - obs[v]) ** 2) * weights).mean(("lat", "lon")) for v in variables})
        bias.append({v: ((fc[v].mean("member") - obs[v]) * weights).mean(("lat", "lon")) for v in variables})
        for j, lead in enumerate(leads):
            # Every variable in units of its ensemble spread, so that each counts.
            scale = {v: float(fc[v].isel(lead_time=j).std("member").mean()) for v in variables}
            members = np.concatenate([fc[v].isel(lead_time=j).values.reshape(args.members, -1) / scale[v]
                                      for v in variables], axis=1)
            observed = np.concatenate([obs[v].isel(lead_time=j).values.ravel() / scale[v] for v in variables])
            in_span.append((lead, *truth_and_member_in_span(members, observed)))

    rows = []
    for v in variables:
        for j, lead in enumerate(leads):
            s = np.sqrt(np.mean([float(x[v][j]) for x in spread2]) / clim_var[v])
            e = np.sqrt(np.mean([float(x[v][j]) for x in error2]) / clim_var[v])
            b = np.mean([float(x[v][j]) for x in bias])
            rows.append(dict(variable=v, lead_days=lead, spread_over_clim_std=round(s, 3),
                             rmse_over_clim_std=round(e, 3), mean_bias=round(b, 3)))
    table = pd.DataFrame(rows)
    span = pd.DataFrame(in_span, columns=["lead_days", "truth_in_member_span", "member_in_others_span"])
    table = table.merge(span.groupby("lead_days").mean().round(3).reset_index(), on="lead_days")
    member_days = args.inits * args.members * max(leads)
    costs = dict(spinup_s=round(t_spin, 1), spinup_days=config.spinup_days,
                 truth_s=round(t_truth, 1), truth_days=config.truth_days,
                 forecast_s=round(t_forecast, 1),
                 seconds_per_member_day=round(t_forecast / member_days, 4),
                 members_per_batch=args.members, threads=args.threads)
    print(table.to_string(index=False))
    print(json.dumps(costs, indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "physics_ensemble.csv", index=False)
    (args.out / "physics_ensemble_cost.json").write_text(json.dumps(costs, indent=1))


if __name__ == "__main__":
    main()
