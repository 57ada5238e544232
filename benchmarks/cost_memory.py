"""Peak memory of emulating N members, streamed to zarr, each N in a fresh process (a process's
peak resident memory only grows, so N values measured in one process would hide each other).

The child (`python -m benchmarks.cost_memory ...`) reads the physics forecast the parent stored,
emulates N members into the same store (members outside the physical range are written and noted,
not refused: `cost_emulator.validation_recorded`) and prints one JSON line: peak_rss_mib (getrusage
ru_maxrss), peak_cuda_mib (torch.cuda.max_memory_allocated, CUDA only), seconds and notes.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from benchmarks.cost_emulator import emulate_to_zarr, load_emulator, refusal_note
from benchmarks.cost_physics import PHYSICS_ASSET
from seeds_dag.emulation import SamplerConfig
from seeds_dag.normalization import compute_normalization
from seeds_dag.store import ArtifactStore

REPO_ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20


def peak_memory(root: Path, physics_partition: str, n_members: int, batch: int, num_steps: int,
                device: torch.device, threads: int, checkpoint: Path | None, generator: str) -> dict:
    """Run the child for one N; returns its JSON line as a dict."""
    command = [sys.executable, "-m", "benchmarks.cost_memory", "--root", str(root),
               "--physics-partition", physics_partition, "--n-members", str(n_members), "--batch", str(batch),
               "--num-steps", str(num_steps), "--device", str(device), "--threads", str(threads),
               "--generator", generator]
    if checkpoint is not None:
        command += ["--checkpoint", str(checkpoint)]
    child = subprocess.run(command, check=False, capture_output=True, text=True, cwd=REPO_ROOT)
    if child.returncode != 0:
        raise RuntimeError(f"memory run with N={n_members} failed (exit {child.returncode}): {child.stderr[-2000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--physics-partition", required=True)
    parser.add_argument("--n-members", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--num-steps", type=int, required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--generator", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    store = ArtifactStore(str(args.root))
    forecast = store.load_dataset(PHYSICS_ASSET, args.physics_partition)
    lead_days = forecast["lead_time"].values / np.timedelta64(1, "D")
    model, _, _ = load_emulator(args.checkpoint, args.generator, forecast["lat"].values, forecast["lon"].values,
                                lead_days, device)
    timing = emulate_to_zarr(model, forecast, compute_normalization(forecast), store, f"memory-n{args.n_members}",
                             args.n_members, args.batch, SamplerConfig(num_steps=args.num_steps), device)
    # ru_maxrss is in KiB on Linux.
    peak_cuda = torch.cuda.max_memory_allocated(device) / MIB if device.type == "cuda" else float("nan")
    print(json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "peak_cuda_mib": peak_cuda, "seconds": timing.seconds,
                      "notes": refusal_note(f"memory N={args.n_members}", timing)}))


if __name__ == "__main__":
    main()
