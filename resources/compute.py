"""The compute resource: the device, precision and batch sizes of training and sampling (the GPU
resource of those assets)."""

from __future__ import annotations

import contextlib
from typing import Literal

import torch
from dagster import ConfigurableResource
from pydantic import Field

from seeds_dag.precision import autocast_context
from seeds_dag.training import TrainingConfig


class ComputeResource(ConfigurableResource):
    """`device="auto"` takes CUDA when present. bf16 autocast is allowed on CUDA only: on the CPUs
    we measured it is ~25× slower than fp32. `threads` caps torch's CPU threads (0 = torch's
    default; with several training processes, 0 shares the cores out among them).

    `training_processes` > 1 trains data-parallel (torch DDP) in that many processes on this
    machine: one per GPU on CUDA (NCCL), or CPU processes (gloo). Each takes `train_batch_size`
    network samples a step (examples, or for the `crps` generator examples × its members per
    example), so the effective batch is `training_processes × train_batch_size`.
    `sample_batch_size`: member trajectories per network call when sampling.
    """

    device: Literal["auto", "cuda", "cpu"] = "auto"
    precision: Literal["fp32", "bf16"] = "fp32"
    # Refused below 1 when the resource is built. TrainingConfig's batch size, counted here in
    # network samples (the skill benchmark's --train-batch takes the same default).
    train_batch_size: int = Field(default=TrainingConfig.batch_size, ge=1)
    sample_batch_size: int = Field(default=64, ge=1)
    threads: int = 0
    training_processes: int = Field(default=1, ge=1)

    def torch_device(self) -> torch.device:
        if self.device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("compute.device is 'cuda' but torch sees no CUDA device")
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def setup(self) -> torch.device:
        """Apply the thread setting and return the device; call once at the top of an asset."""
        device = self.torch_device()
        if self.precision == "bf16" and device.type != "cuda":
            raise ValueError("compute.precision 'bf16' is for CUDA only; use 'fp32' on the CPU")
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        return device

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The dtype of autocast regions (bf16), or None for full precision."""
        return torch.bfloat16 if self.precision == "bf16" else None

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """bf16 autocast on CUDA when asked for; otherwise a no-op context."""
        return autocast_context(device, self.autocast_dtype)

    def describe(self) -> dict[str, str | int]:
        device = self.torch_device()
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        return {"device": name, "precision": self.precision, "torch_threads": torch.get_num_threads(),
                "training_processes": self.training_processes}
